// Local response normalisation of an N×C×H×W blob (Caffe's LRN layer), n = local_size (odd):
//   ACROSS_CHANNELS: scale[c] = k + (alpha / n) · Σ x[c']²,  c' ∈ [c − n/2, c + n/2] ∩ [0, C)
//   WITHIN_CHANNEL:  scale[h, w] = 1 + (alpha / n²) · Σ x[h', w']² over the n×n window centred on (h, w),
//                    zero padded (Caffe builds it from average pooling whose divisor is always n²; k unused)
//   top = x · scale^−beta.
// With B the window sum above and m its divisor (n or n²), d top / d x gives (the window is symmetric):
//   bottom_diff = top_diff · scale^−beta − (2 · alpha · beta / m) · x · B(top_diff · top / scale)
// Window sums accumulate in double: the across-channel sum slides (O(1) per element) without drift.
#pragma once
#include "common.h"

namespace lrcn {
struct LrnParams {
  int num, channels, height, width;  // N×C×H×W
  int local_size;                    // n, odd
  float alpha, beta, k;              // k is ignored WITHIN_CHANNEL, as in Caffe
  bool within_channel;
};

// top, scale, bottom: N×C×H×W. scale is kept for the backward pass.
void lrn_forward_cpu(float* top, float* scale, const float* bottom, const LrnParams& p);
// bottom_diff, top_diff, top, scale, bottom: N×C×H×W.
void lrn_backward_cpu(float* bottom_diff, const float* top_diff, const float* top, const float* scale,
                      const float* bottom, const LrnParams& p);
void lrn_forward_gpu(float* top, float* scale, const float* bottom, const LrnParams& p, cudaStream_t stream);
void lrn_backward_gpu(float* bottom_diff, const float* top_diff, const float* top, const float* scale,
                      const float* bottom, const LrnParams& p, cudaStream_t stream);
}  // namespace lrcn
