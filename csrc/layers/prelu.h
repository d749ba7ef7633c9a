// PReLU: y = max(x, 0) + a_c·min(x, 0), with a slope a_c per channel (or one shared, channels = 1).
// Blobs are viewed as (outer, channels, inner); slope: channels.
//   prelu_forward:   top = as above (top == bottom allowed).
//   prelu_backward:  bottom_diff = top_diff·(x > 0 ? 1 : a_c)   (may be null: not asked)
//                    slope_terms = top_diff·x·(x ≤ 0)            (may be null; summed per channel by the caller,
//                                                               with channel_sum of csrc/layers/scale.h)
// x is the layer's input (a kept copy when run in place).
#pragma once
#include "common.h"

namespace lrcn {
void prelu_forward_cpu(float* top, const float* bottom, const float* slope, int64_t outer, int64_t channels,
                       int64_t inner);
void prelu_backward_cpu(float* bottom_diff, float* slope_terms, const float* top_diff, const float* bottom,
                        const float* slope, int64_t outer, int64_t channels, int64_t inner);
void prelu_forward_gpu(float* top, const float* bottom, const float* slope, int64_t outer, int64_t channels,
                       int64_t inner, cudaStream_t stream);
void prelu_backward_gpu(float* bottom_diff, float* slope_terms, const float* top_diff, const float* bottom,
                        const float* slope, int64_t outer, int64_t channels, int64_t inner, cudaStream_t stream);
}  // namespace lrcn
