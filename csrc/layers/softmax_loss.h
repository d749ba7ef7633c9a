// SoftmaxWithLoss on probabilities p (outer × channels × inner, from softmax_forward) and labels
// (outer·inner floats, one per position, each a class in [0, channels) or ignore_label):
//   loss = −Σ_valid log(max(p[o, label, i], FLT_MIN)) / normalizer
// normalizer (Caffe's get_normalizer) = max(1, FULL: outer·inner | VALID: number of non-ignored labels |
// BATCH_SIZE: outer | NONE: 1).
// Backward: dx[o, c, i] = (p[o, c, i] − [c == label]) · loss_diff[0] / normalizer at valid positions, 0 at
// ignored ones; loss_diff[0] is the loss weight (the Net keeps it in the loss top's diff).
// Labels that are neither a class nor ignore_label are never used as an index: the CPU forward counts them
// and the binding turns a non-zero count into an error; the GPU forward records the first in the fault record. The sums are deterministic: sequential on the
// CPU, a fixed-order single-block reduction on the GPU.
#pragma once
#include <cmath>

#include "common.h"
#include "layers/softmax.h"


namespace lrcn {
// What a float label names: a class in [0, channels), kIgnored (== ignore_label, when has_ignore) or
// kBadLabel (a non-integer, NaN, or out of range).
constexpr int kIgnored = -1, kBadLabel = -2;
LRCN_HD inline int label_class(float label, int channels, bool has_ignore, int ignore_label) {
  if (has_ignore && label == static_cast<float>(ignore_label)) return kIgnored;
  if (label >= 0.f && label < static_cast<float>(channels) && label == floorf(label)) return static_cast<int>(label);
  return kBadLabel;
}

// Label counts a forward reports to the binding (Accuracy's forward reports them too).
struct LabelStats {
  int64_t valid = 0;      // labels naming a class
  int64_t bad = 0;        // labels naming neither a class nor ignore_label
  float first_bad = 0.f;  // the value of the first bad label (position order), when bad > 0
};

enum class LossNormalization { kFull, kValid, kBatchSize, kNone };  // caffe.proto's order

LRCN_HD inline float loss_normalizer(LossNormalization mode, int outer, int inner, int64_t valid) {
  float n = 1.f;
  switch (mode) {
    case LossNormalization::kFull: n = static_cast<float>(static_cast<int64_t>(outer) * inner); break;
    case LossNormalization::kValid: n = static_cast<float>(valid); break;
    case LossNormalization::kBatchSize: n = static_cast<float>(outer); break;
    case LossNormalization::kNone: n = 1.f; break;
  }
  return n > 1.f ? n : 1.f;
}

// loss: 1 element (the unweighted, normalised loss). Returns the label counts; the loss is written
// whatever they are (bad labels contribute nothing).
LabelStats softmax_loss_forward_cpu(float* loss, const float* prob, const float* label, int outer, int channels,
                                    int inner, bool has_ignore, int ignore_label, LossNormalization mode);
void softmax_loss_backward_cpu(float* bottom_diff, const float* prob, const float* label, const float* loss_diff,
                               int outer, int channels, int inner, bool has_ignore, int ignore_label,
                               float normalizer);
// The GPU forward never synchronises: it writes the normaliser the backward reads into normalizer[0] (device)
// and records the first bad label, if any, in the fault record (device.h) under fault_tag.
void softmax_loss_forward_gpu(float* loss, float* normalizer, const float* prob, const float* label, int outer,
                              int channels, int inner, bool has_ignore, int ignore_label, LossNormalization mode,
                              int fault_tag, cudaStream_t stream);
void softmax_loss_backward_gpu(float* bottom_diff, const float* prob, const float* label, const float* loss_diff,
                               int outer, int channels, int inner, bool has_ignore, int ignore_label,
                               const float* normalizer, cudaStream_t stream);
}  // namespace lrcn
