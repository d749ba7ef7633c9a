// Channel-wise affine maps and channel sums over a blob viewed as (outer, C, inner): the kernels of Scale,
// Bias and BatchNorm (lrcn_native/layers/scale.py, bias.py, batch_norm.py). For Scale/Bias, C is the count of
// the scale (bias) and inner the count of bottom's axes after the ones it covers; for BatchNorm, C is axis 1.
//   scale_forward:  top[o,c,i] = bottom[o,c,i]·scale[c] + bias[c]   (scale null: 1, bias null: 0;
//                   top == bottom allowed). Scale's backward to the bottom is this with the top diff.
//   channel_sum:    out[c] = beta·out[c] + Σ_{o,i} a[o,c,i]·b[o,c,i]   (b null: Σ a). beta 0 overwrites
//                   (out's old value is never read), beta 1 accumulates (Caffe's parameter diffs).
// bottom/top/a/b: outer·C·inner; scale/bias/out: C.
#pragma once
#include "common.h"

namespace lrcn {
void scale_forward_cpu(float* top, const float* bottom, const float* scale, const float* bias, int64_t outer,
                       int64_t channels, int64_t inner);
void channel_sum_cpu(float* out, const float* a, const float* b, int64_t outer, int64_t channels, int64_t inner,
                     float beta);
void scale_forward_gpu(float* top, const float* bottom, const float* scale, const float* bias, int64_t outer,
                       int64_t channels, int64_t inner, cudaStream_t stream);
void channel_sum_gpu(float* out, const float* a, const float* b, int64_t outer, int64_t channels, int64_t inner,
                     float beta, cudaStream_t stream);
}  // namespace lrcn
