#include "layers/recurrent.h"

#include <algorithm>

#include "gemm.h"

namespace lrcn {
void recurrent_gate_rows_cpu(float* y, const float* x, const float* s, int N, int H) {
  for (int n = 0; n < N; ++n)
    for (int d = 0; d < H; ++d) y[(int64_t)n * H + d] = s[n] * x[(int64_t)n * H + d];
}

void recurrent_colsum_cpu(float* y, const float* X, int64_t R, int64_t C, bool accumulate) {
  constexpr int64_t kBlock = 256;  // columns per thread; each block sums its rows in order
#pragma omp parallel for if (R * C >= 65536)
  for (int64_t j0 = 0; j0 < C; j0 += kBlock) {
    const int64_t j1 = std::min(C, j0 + kBlock);
    if (!accumulate)
      for (int64_t j = j0; j < j1; ++j) y[j] = 0.f;
    for (int64_t r = 0; r < R; ++r)
      for (int64_t j = j0; j < j1; ++j) y[j] += X[r * C + j];
  }
}

void recurrent_weight_backward_cpu(float* dx, float* dx_static, float* dW_x, float* db, float* dW_s, float* dW_h,
                                   float* dz_sum, const float* dz, const float* x, const float* x_static,
                                   const float* hc, const float* W_x, const float* W_s, int T, int N, int D, int S,
                                   int H, int G) {
  const int TN = T * N;
  if (dW_x) gemm_cpu(true, false, G, D, TN, 1.f, dz, G, x, D, 1.f, dW_x, D);
  if (db) recurrent_colsum_cpu(db, dz, TN, G, true);
  if (dW_h) gemm_cpu(true, false, G, H, TN, 1.f, dz, G, hc, H, 1.f, dW_h, H);
  if (dx) gemm_cpu(false, false, TN, D, G, 1.f, dz, G, W_x, D, 0.f, dx, D);
  if (S > 0 && (dW_s || dx_static)) {
    recurrent_colsum_cpu(dz_sum, dz, T, (int64_t)N * G, false);
    if (dW_s) gemm_cpu(true, false, G, S, N, 1.f, dz_sum, G, x_static, S, 1.f, dW_s, S);
    if (dx_static) gemm_cpu(false, false, N, S, G, 1.f, dz_sum, G, W_s, S, 0.f, dx_static, S);
  }
}
}  // namespace lrcn
