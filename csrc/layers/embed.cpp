#include "layers/embed.h"

#include <algorithm>

namespace lrcn {
int64_t embed_forward_cpu(float* top, const float* bottom, const float* weight, const float* bias, int64_t M, int K,
                          int N) {
  int64_t bad = -1;
  for (int64_t m = 0; m < M; ++m) {
    const int row = embed_row(bottom[m], K);
    if (row == -2 && bad < 0) bad = m;
    float* t = top + m * N;
    for (int j = 0; j < N; ++j) t[j] = (row >= 0 ? weight[(int64_t)row * N + j] : 0.f) + (bias ? bias[j] : 0.f);
  }
  return bad;
}

void embed_backward_cpu(float* weight_diff, float* bias_diff, const float* top_diff, const float* bottom, int64_t M,
                        int K, int N) {
  constexpr int kBlock = 64;  // columns per thread
#pragma omp parallel for if (M * N >= 65536)
  for (int j0 = 0; j0 < N; j0 += kBlock) {
    const int j1 = std::min(N, j0 + kBlock);
    for (int64_t m = 0; m < M; ++m) {
      const int row = embed_row(bottom[m], K);
      const float* t = top_diff + m * N;
      if (weight_diff && row >= 0)
        for (int j = j0; j < j1; ++j) weight_diff[(int64_t)row * N + j] += t[j];
      if (bias_diff)
        for (int j = j0; j < j1; ++j) bias_diff[j] += t[j];
    }
  }
}
}  // namespace lrcn
