// SigmoidCrossEntropyLoss, per element i of n (input x, target t in [0, 1]; an element whose target, cast to
// int, equals ignore_label is ignored when has_ignore):
//   forward:  loss_terms[i] = −(x·(t − [x ≥ 0]) − log(1 + exp(x − 2x·[x ≥ 0])))   (0 if ignored; the
//             stable form of −t·log σ(x) − (1 − t)·log(1 − σ(x))), valid[i] = 1 (0 if ignored);
//             the layer sums both with channel_sum (csrc/layers/scale.h).
//   backward: bottom_diff[i] = scale·(σ(x) − t)   (0 if ignored), scale = loss weight / normaliser.
#pragma once
#include <cmath>

#include "common.h"

namespace lrcn {
LRCN_HD inline bool sce_ignored(float t, bool has_ignore, int ignore_label) {
  return has_ignore && static_cast<int>(t) == ignore_label;
}
LRCN_HD inline float sce_loss_one(float x, float t) {
  const float pos = x >= 0.f ? 1.f : 0.f;
  return -(x * (t - pos) - logf(1.f + expf(x - 2.f * x * pos)));
}

void sigmoid_cross_entropy_forward_cpu(float* loss_terms, float* valid, const float* x, const float* t, int64_t n,
                                       bool has_ignore, int ignore_label);
void sigmoid_cross_entropy_backward_cpu(float* bottom_diff, const float* x, const float* t, int64_t n, float scale,
                                        bool has_ignore, int ignore_label);
void sigmoid_cross_entropy_forward_gpu(float* loss_terms, float* valid, const float* x, const float* t, int64_t n,
                                       bool has_ignore, int ignore_label, cudaStream_t stream);
void sigmoid_cross_entropy_backward_gpu(float* bottom_diff, const float* x, const float* t, int64_t n, float scale,
                                        bool has_ignore, int ignore_label, cudaStream_t stream);
}  // namespace lrcn
