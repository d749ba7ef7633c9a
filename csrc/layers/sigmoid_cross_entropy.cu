#include "layers/sigmoid_cross_entropy.h"

namespace lrcn {
namespace {
__global__ void sce_forward_kernel(float* loss_terms, float* valid, const float* x, const float* t, int64_t n,
                                   bool has_ignore, int ignore_label) {
  LRCN_KERNEL_LOOP(i, n) {
    const bool ignored = sce_ignored(t[i], has_ignore, ignore_label);
    loss_terms[i] = ignored ? 0.f : sce_loss_one(x[i], t[i]);
    valid[i] = ignored ? 0.f : 1.f;
  }
}
__global__ void sce_backward_kernel(float* bottom_diff, const float* x, const float* t, int64_t n, float scale,
                                    bool has_ignore, int ignore_label) {
  LRCN_KERNEL_LOOP(i, n)
  bottom_diff[i] = sce_ignored(t[i], has_ignore, ignore_label) ? 0.f : scale * (1.f / (1.f + expf(-x[i])) - t[i]);
}
}  // namespace

void sigmoid_cross_entropy_forward_gpu(float* loss_terms, float* valid, const float* x, const float* t, int64_t n,
                                       bool has_ignore, int ignore_label, cudaStream_t stream) {
  if (n > 0)
    sce_forward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(loss_terms, valid, x, t, n, has_ignore, ignore_label);
}
void sigmoid_cross_entropy_backward_gpu(float* bottom_diff, const float* x, const float* t, int64_t n, float scale,
                                        bool has_ignore, int ignore_label, cudaStream_t stream) {
  if (n > 0)
    sce_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(bottom_diff, x, t, n, scale, has_ignore, ignore_label);
}
}  // namespace lrcn
