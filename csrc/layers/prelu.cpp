#include "layers/prelu.h"

namespace lrcn {
void prelu_forward_cpu(float* top, const float* bottom, const float* slope, int64_t outer, int64_t channels,
                       int64_t inner) {
  const int64_t n = outer * channels * inner;
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const float x = bottom[i];
    top[i] = x > 0.f ? x : x * slope[(i / inner) % channels];
  }
}

void prelu_backward_cpu(float* bottom_diff, float* slope_terms, const float* top_diff, const float* bottom,
                        const float* slope, int64_t outer, int64_t channels, int64_t inner) {
  const int64_t n = outer * channels * inner;
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const float x = bottom[i], dy = top_diff[i];
    if (slope_terms) slope_terms[i] = x > 0.f ? 0.f : dy * x;
    if (bottom_diff) bottom_diff[i] = x > 0.f ? dy : dy * slope[(i / inner) % channels];
  }
}
}  // namespace lrcn
