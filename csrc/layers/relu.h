// ReLU: top = max(bottom, 0) + negative_slope · min(bottom, 0).
// Backward: bottom_diff = top_diff · (bottom > 0 ? 1 : negative_slope); at exactly 0 the
// negative side is used, as in Caffe. All arrays have n elements; in-place (top == bottom) is allowed
// forward, and backward reads the *bottom* data, which for an in-place ReLU is the output: the sign
// is the same, so the gradient is too.
#pragma once
#include "common.h"

namespace lrcn {
void relu_forward_cpu(float* top, const float* bottom, int64_t n, float negative_slope);
void relu_backward_cpu(float* bottom_diff, const float* top_diff, const float* bottom, int64_t n,
                       float negative_slope);
void relu_forward_gpu(float* top, const float* bottom, int64_t n, float negative_slope, cudaStream_t stream);
void relu_backward_gpu(float* bottom_diff, const float* top_diff, const float* bottom, int64_t n,
                       float negative_slope, cudaStream_t stream);
}  // namespace lrcn
