#include "layers/pointwise.h"

namespace lrcn {
namespace {
__global__ void pointwise_forward_kernel(float* top, const float* bottom, int64_t n, int op, float p0, float p1,
                                         float p2) {
  LRCN_KERNEL_LOOP(i, n) top[i] = pointwise_forward_one(op, bottom[i], p0, p1, p2);
}
__global__ void pointwise_backward_kernel(float* bottom_diff, const float* top_diff, const float* bottom,
                                          const float* top, int64_t n, int op, float p0, float p1, float p2) {
  LRCN_KERNEL_LOOP(i, n) bottom_diff[i] = pointwise_backward_one(op, top_diff[i], bottom[i], top[i], p0, p1, p2);
}
}  // namespace

void pointwise_forward_gpu(float* top, const float* bottom, int64_t n, int op, float p0, float p1, float p2,
                           cudaStream_t stream) {
  if (n > 0) pointwise_forward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(top, bottom, n, op, p0, p1, p2);
}
void pointwise_backward_gpu(float* bottom_diff, const float* top_diff, const float* bottom, const float* top,
                            int64_t n, int op, float p0, float p1, float p2, cudaStream_t stream) {
  if (n > 0)
    pointwise_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(bottom_diff, top_diff, bottom, top, n, op,
                                                                       p0, p1, p2);
}
}  // namespace lrcn
