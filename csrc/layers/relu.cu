#include "layers/relu.h"

namespace lrcn {
namespace {
__global__ void relu_forward_kernel(float* top, const float* bottom, int64_t n, float negative_slope) {
  LRCN_KERNEL_LOOP(i, n) {
    const float x = bottom[i];
    top[i] = x > 0.f ? x : x * negative_slope;
  }
}
__global__ void relu_backward_kernel(float* bottom_diff, const float* top_diff, const float* bottom,
                                     int64_t n, float negative_slope) {
  LRCN_KERNEL_LOOP(i, n) bottom_diff[i] = top_diff[i] * (bottom[i] > 0.f ? 1.f : negative_slope);
}
}  // namespace

void relu_forward_gpu(float* top, const float* bottom, int64_t n, float negative_slope, cudaStream_t stream) {
  if (n > 0) relu_forward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(top, bottom, n, negative_slope);
}
void relu_backward_gpu(float* bottom_diff, const float* top_diff, const float* bottom, int64_t n,
                       float negative_slope, cudaStream_t stream) {
  if (n > 0)
    relu_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(bottom_diff, top_diff, bottom, n, negative_slope);
}
}  // namespace lrcn
