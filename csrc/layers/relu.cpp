#include "layers/relu.h"

namespace lrcn {
void relu_forward_cpu(float* top, const float* bottom, int64_t n, float negative_slope) {
#pragma omp parallel for simd if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const float x = bottom[i];
    top[i] = x > 0.f ? x : x * negative_slope;
  }
}

void relu_backward_cpu(float* bottom_diff, const float* top_diff, const float* bottom, int64_t n,
                       float negative_slope) {
#pragma omp parallel for simd if (n > 65536)
  for (int64_t i = 0; i < n; ++i) bottom_diff[i] = top_diff[i] * (bottom[i] > 0.f ? 1.f : negative_slope);
}
}  // namespace lrcn
