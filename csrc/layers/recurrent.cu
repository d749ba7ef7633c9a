// The CUDA twins of recurrent.cpp.
#include "layers/recurrent.h"

#include "gemm.h"

namespace lrcn {
namespace {
__global__ void gate_rows_kernel(float* y, const float* x, const float* s, int N, int H) {
  LRCN_KERNEL_LOOP(e, (int64_t)N * H) y[e] = s[e / H] * x[e];
}

// One thread per column, summing its rows in order (the CPU's order, so the sums agree bit for bit).
__global__ void colsum_kernel(float* y, const float* X, int64_t R, int64_t C, bool accumulate) {
  LRCN_KERNEL_LOOP(j, C) {
    float acc = accumulate ? y[j] : 0.f;
    for (int64_t r = 0; r < R; ++r) acc += X[r * C + j];
    y[j] = acc;
  }
}
}  // namespace

void recurrent_gate_rows_gpu(float* y, const float* x, const float* s, int N, int H, cudaStream_t stream) {
  const int64_t n = (int64_t)N * H;
  if (n > 0) gate_rows_kernel<<<blocks_for(n), kThreads, 0, stream>>>(y, x, s, N, H);
}

void recurrent_colsum_gpu(float* y, const float* X, int64_t R, int64_t C, bool accumulate, cudaStream_t stream) {
  if (C > 0) colsum_kernel<<<blocks_for(C), kThreads, 0, stream>>>(y, X, R, C, accumulate);
}

void recurrent_weight_backward_gpu(float* dx, float* dx_static, float* dW_x, float* db, float* dW_s, float* dW_h,
                                   float* dz_sum, const float* dz, const float* x, const float* x_static,
                                   const float* hc, const float* W_x, const float* W_s, int T, int N, int D, int S,
                                   int H, int G, cudaStream_t stream) {
  const int TN = T * N;
  if (dW_x) gemm_gpu(true, false, G, D, TN, 1.f, dz, G, x, D, 1.f, dW_x, D, stream);
  if (db) recurrent_colsum_gpu(db, dz, TN, G, true, stream);
  if (dW_h) gemm_gpu(true, false, G, H, TN, 1.f, dz, G, hc, H, 1.f, dW_h, H, stream);
  if (dx) gemm_gpu(false, false, TN, D, G, 1.f, dz, G, W_x, D, 0.f, dx, D, stream);
  if (S > 0 && (dW_s || dx_static)) {
    recurrent_colsum_gpu(dz_sum, dz, T, (int64_t)N * G, false, stream);
    if (dW_s) gemm_gpu(true, false, G, S, N, 1.f, dz_sum, G, x_static, S, 1.f, dW_s, S, stream);
    if (dx_static) gemm_gpu(false, false, N, S, G, 1.f, dz_sum, G, W_s, S, 0.f, dx_static, S, stream);
  }
}
}  // namespace lrcn
