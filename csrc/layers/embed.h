// Caffe's Embed layer, a lookup table: top row m (N values) = weight[idx_m] (+ bias), with weight K × N
// (input_dim × num_output) and idx_m the integer held (as a float) in bottom[m], m < M.
// Index −1, LRCN's padding, is a zero row: top = bias (or 0) and no gradient reaches the weights from it.
// Any other index that is not an integer in [0, K) is an error: the forward writes zeros there instead of
// reading out of range and returns the first such position (−1 when every index is valid) for the caller
// to report; the backward skips it.
#pragma once
#include <cmath>

#include "common.h"


namespace lrcn {
// The row of index value v: 0..K−1, −1 for padding, −2 for anything else (NaN, fractions, out of range).
LRCN_HD inline int embed_row(float v, int K) {
  if (v == -1.f) return -1;
  if (!(v >= 0.f && v < (float)K) || v != floorf(v)) return -2;
  return (int)v;
}

int64_t embed_forward_cpu(float* top, const float* bottom, const float* weight, const float* bias, int64_t M, int K,
                          int N);
int64_t embed_forward_gpu(float* top, const float* bottom, const float* weight, const float* bias, int64_t M, int K,
                          int N, cudaStream_t stream);  // synchronises (to return the first bad position)
// weight_diff (K × N) += top_diff row m at row idx_m; bias_diff (N) += Σ_m top_diff row m. Either may be
// null. Rows are added in order of m, one column per thread, so the sums are deterministic.
void embed_backward_cpu(float* weight_diff, float* bias_diff, const float* top_diff, const float* bottom, int64_t M,
                        int K, int N);
void embed_backward_gpu(float* weight_diff, float* bias_diff, const float* top_diff, const float* bottom, int64_t M,
                        int K, int N, cudaStream_t stream);
}  // namespace lrcn
