#include "layers/softmax.h"

#include <algorithm>
#include <cmath>

namespace lrcn {
// Position p = o·inner + i reads channel c at o·channels·inner + c·inner + i.
void softmax_forward_cpu(float* top, const float* bottom, int outer, int channels, int inner) {
  const int64_t positions = channels > 0 ? static_cast<int64_t>(outer) * inner : 0;
#pragma omp parallel for if (positions * channels > 65536)
  for (int64_t p = 0; p < positions; ++p) {
    const int64_t base = p / inner * channels * inner + p % inner;
    const float* x = bottom + base;
    float* y = top + base;
    float m = x[0];
    for (int c = 1; c < channels; ++c) m = std::max(m, x[c * inner]);
    float sum = 0.f;
    for (int c = 0; c < channels; ++c) {
      y[c * inner] = std::exp(x[c * inner] - m);
      sum += y[c * inner];
    }
    for (int c = 0; c < channels; ++c) y[c * inner] /= sum;
  }
}

void softmax_backward_cpu(float* bottom_diff, const float* top_diff, const float* top, int outer, int channels,
                          int inner) {
  const int64_t positions = static_cast<int64_t>(outer) * inner;
#pragma omp parallel for if (positions * channels > 65536)
  for (int64_t p = 0; p < positions; ++p) {
    const int64_t base = p / inner * channels * inner + p % inner;
    const float *dy = top_diff + base, *y = top + base;
    float* dx = bottom_diff + base;
    float dot = 0.f;  // Σ_c dy_c·y_c
    for (int c = 0; c < channels; ++c) dot += dy[c * inner] * y[c * inner];
    for (int c = 0; c < channels; ++c) dx[c * inner] = y[c * inner] * (dy[c * inner] - dot);
  }
}
}  // namespace lrcn
