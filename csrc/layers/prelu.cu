#include "layers/prelu.h"

namespace lrcn {
namespace {
__global__ void prelu_forward_kernel(float* top, const float* bottom, const float* slope, int64_t n,
                                     int64_t channels, int64_t inner) {
  LRCN_KERNEL_LOOP(i, n) {
    const float x = bottom[i];
    top[i] = x > 0.f ? x : x * slope[(i / inner) % channels];
  }
}
__global__ void prelu_backward_kernel(float* bottom_diff, float* slope_terms, const float* top_diff,
                                      const float* bottom, const float* slope, int64_t n, int64_t channels,
                                      int64_t inner) {
  LRCN_KERNEL_LOOP(i, n) {
    const float x = bottom[i], dy = top_diff[i];
    if (slope_terms) slope_terms[i] = x > 0.f ? 0.f : dy * x;
    if (bottom_diff) bottom_diff[i] = x > 0.f ? dy : dy * slope[(i / inner) % channels];
  }
}
}  // namespace

void prelu_forward_gpu(float* top, const float* bottom, const float* slope, int64_t outer, int64_t channels,
                       int64_t inner, cudaStream_t stream) {
  const int64_t n = outer * channels * inner;
  if (n > 0) prelu_forward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(top, bottom, slope, n, channels, inner);
}
void prelu_backward_gpu(float* bottom_diff, float* slope_terms, const float* top_diff, const float* bottom,
                        const float* slope, int64_t outer, int64_t channels, int64_t inner, cudaStream_t stream) {
  const int64_t n = outer * channels * inner;
  if (n > 0)
    prelu_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(bottom_diff, slope_terms, top_diff, bottom, slope,
                                                                  n, channels, inner);
}
}  // namespace lrcn
