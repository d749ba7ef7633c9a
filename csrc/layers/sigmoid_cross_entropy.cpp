#include "layers/sigmoid_cross_entropy.h"

namespace lrcn {
void sigmoid_cross_entropy_forward_cpu(float* loss_terms, float* valid, const float* x, const float* t, int64_t n,
                                       bool has_ignore, int ignore_label) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const bool ignored = sce_ignored(t[i], has_ignore, ignore_label);
    loss_terms[i] = ignored ? 0.f : sce_loss_one(x[i], t[i]);
    valid[i] = ignored ? 0.f : 1.f;
  }
}

void sigmoid_cross_entropy_backward_cpu(float* bottom_diff, const float* x, const float* t, int64_t n, float scale,
                                        bool has_ignore, int ignore_label) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i)
    bottom_diff[i] = sce_ignored(t[i], has_ignore, ignore_label) ? 0.f : scale * (1.f / (1.f + expf(-x[i])) - t[i]);
}
}  // namespace lrcn
