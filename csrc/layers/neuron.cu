#include "layers/neuron.h"

namespace lrcn {
namespace {
__global__ void sigmoid_forward_kernel(float* top, const float* bottom, int64_t n) {
  LRCN_KERNEL_LOOP(i, n) top[i] = static_cast<float>(0.5 * tanh(0.5 * bottom[i]) + 0.5);
}
__global__ void sigmoid_backward_kernel(float* bottom_diff, const float* top_diff, const float* top, int64_t n) {
  LRCN_KERNEL_LOOP(i, n) {
    const float y = top[i];
    bottom_diff[i] = top_diff[i] * y * (1.f - y);
  }
}
__global__ void tanh_forward_kernel(float* top, const float* bottom, int64_t n) {
  LRCN_KERNEL_LOOP(i, n) top[i] = tanhf(bottom[i]);
}
__global__ void tanh_backward_kernel(float* bottom_diff, const float* top_diff, const float* top, int64_t n) {
  LRCN_KERNEL_LOOP(i, n) {
    const float y = top[i];
    bottom_diff[i] = top_diff[i] * (1.f - y * y);
  }
}
// Forward (x = bottom, y = top) and backward (x = top_diff, y = bottom_diff) are the same map.
__global__ void dropout_kernel(float* y, const float* x, int64_t n, uint64_t seed, uint32_t threshold, float scale) {
  LRCN_KERNEL_LOOP(i, n) y[i] = dropout_bits(seed, i) >= threshold ? x[i] * scale : 0.f;
}
}  // namespace

void sigmoid_forward_gpu(float* top, const float* bottom, int64_t n, cudaStream_t stream) {
  if (n > 0) sigmoid_forward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(top, bottom, n);
}
void sigmoid_backward_gpu(float* bottom_diff, const float* top_diff, const float* top, int64_t n, cudaStream_t stream) {
  if (n > 0) sigmoid_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(bottom_diff, top_diff, top, n);
}
void tanh_forward_gpu(float* top, const float* bottom, int64_t n, cudaStream_t stream) {
  if (n > 0) tanh_forward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(top, bottom, n);
}
void tanh_backward_gpu(float* bottom_diff, const float* top_diff, const float* top, int64_t n, cudaStream_t stream) {
  if (n > 0) tanh_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(bottom_diff, top_diff, top, n);
}
void dropout_forward_gpu(float* top, const float* bottom, int64_t n, uint64_t seed, uint32_t threshold, float scale,
                         cudaStream_t stream) {
  if (n > 0) dropout_kernel<<<blocks_for(n), kThreads, 0, stream>>>(top, bottom, n, seed, threshold, scale);
}
void dropout_backward_gpu(float* bottom_diff, const float* top_diff, int64_t n, uint64_t seed, uint32_t threshold,
                          float scale, cudaStream_t stream) {
  if (n > 0) dropout_kernel<<<blocks_for(n), kThreads, 0, stream>>>(bottom_diff, top_diff, n, seed, threshold, scale);
}
}  // namespace lrcn
