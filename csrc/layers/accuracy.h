// Accuracy of scores (outer × channels × inner) against labels (outer·inner floats; a class in
// [0, channels) or ignore_label). A position is correct when fewer than top_k classes other than its
// label score >= the label's score (BVLC's rule: ties count against it).
//   accuracy[0] = correct / valid (0 when no label is valid)
//   per_class[c] (optional, channels elements) = correct_c / valid_c over positions labelled c (0 if none)
// Bad labels (neither a class nor ignore_label) are never used as an index: they are counted and
// reported (see LabelStats in softmax_loss.h, and the fault record on the GPU). Counts are exact integers; results are deterministic.
#pragma once
#include "common.h"
#include "layers/softmax_loss.h"

namespace lrcn {
LabelStats accuracy_forward_cpu(float* accuracy, float* per_class, const float* bottom, const float* label,
                                int outer, int channels, int inner, int top_k, bool has_ignore, int ignore_label);
// Never synchronises: flag is scratch for outer·inner floats (accuracy_gpu_scratch); the first bad label,
// if any, goes to the fault record (device.h) under fault_tag.
void accuracy_forward_gpu(float* accuracy, float* per_class, float* flag, const float* bottom, const float* label,
                          int outer, int channels, int inner, int top_k, bool has_ignore, int ignore_label,
                          int fault_tag, cudaStream_t stream);
}  // namespace lrcn
