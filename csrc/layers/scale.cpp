#include "layers/scale.h"

namespace lrcn {
void scale_forward_cpu(float* top, const float* bottom, const float* scale, const float* bias, int64_t outer,
                       int64_t channels, int64_t inner) {
#pragma omp parallel for if (outer * channels * inner > 65536)
  for (int64_t r = 0; r < outer * channels; ++r) {  // one row of inner elements per (o, c)
    const int64_t c = r % channels;
    const float s = scale ? scale[c] : 1.f, t = bias ? bias[c] : 0.f;
    const float* x = bottom + r * inner;
    float* y = top + r * inner;
#pragma omp simd
    for (int64_t i = 0; i < inner; ++i) y[i] = x[i] * s + t;
  }
}

void channel_sum_cpu(float* out, const float* a, const float* b, int64_t outer, int64_t channels, int64_t inner,
                     float beta) {
  // Double accumulators: a channel of a conv layer sums N·H·W terms.
#pragma omp parallel for if (outer * channels * inner > 65536)
  for (int64_t c = 0; c < channels; ++c) {
    double sum = 0;
    for (int64_t o = 0; o < outer; ++o) {
      const int64_t row = (o * channels + c) * inner;
      if (b)
        for (int64_t i = 0; i < inner; ++i) sum += (double)a[row + i] * b[row + i];
      else
        for (int64_t i = 0; i < inner; ++i) sum += a[row + i];
    }
    out[c] = beta == 0.f ? (float)sum : (float)(beta * out[c] + sum);
  }
}
}  // namespace lrcn
