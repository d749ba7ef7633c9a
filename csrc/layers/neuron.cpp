#include "layers/neuron.h"

#include <cmath>

namespace lrcn {
void sigmoid_forward_cpu(float* top, const float* bottom, int64_t n) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) top[i] = static_cast<float>(0.5 * std::tanh(0.5 * bottom[i]) + 0.5);
}

void sigmoid_backward_cpu(float* bottom_diff, const float* top_diff, const float* top, int64_t n) {
#pragma omp parallel for simd if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const float y = top[i];
    bottom_diff[i] = top_diff[i] * y * (1.f - y);
  }
}

void tanh_forward_cpu(float* top, const float* bottom, int64_t n) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) top[i] = std::tanh(bottom[i]);
}

void tanh_backward_cpu(float* bottom_diff, const float* top_diff, const float* top, int64_t n) {
#pragma omp parallel for simd if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const float y = top[i];
    bottom_diff[i] = top_diff[i] * (1.f - y * y);
  }
}

void dropout_forward_cpu(float* top, const float* bottom, int64_t n, uint64_t seed, uint32_t threshold, float scale) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) top[i] = dropout_bits(seed, i) >= threshold ? bottom[i] * scale : 0.f;
}

void dropout_backward_cpu(float* bottom_diff, const float* top_diff, int64_t n, uint64_t seed, uint32_t threshold,
                          float scale) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) bottom_diff[i] = dropout_bits(seed, i) >= threshold ? top_diff[i] * scale : 0.f;
}
}  // namespace lrcn
