// Caffe's Embed layer, a lookup table: top row m (N values) = weight[idx_m] (+ bias), with weight K × N
// (input_dim × num_output) and idx_m the integer held (as a float) in bottom[m], m < M.
// Index −1, LRCN's padding, is a zero row: top = bias (or 0) and no gradient reaches the weights from it.
// Any other index that is not an integer in [0, K) is an error: the forward writes zeros there instead of
// reading out of range and (CPU) returns the first such position (−1 when every index is valid) for the
// caller to report, or (GPU) records it in the fault record (device.h) without synchronising; the backward
// skips it.
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
void embed_forward_gpu(float* top, const float* bottom, const float* weight, const float* bias, int64_t M, int K, int N,
                       int fault_tag, cudaStream_t stream);
// weight_diff (K × N) += top_diff row m at row idx_m; bias_diff (N) += Σ_m top_diff row m. Either may be
// null. Every sum adds its rows in order of m, as the CPU loop does, so the GPU's sums are the CPU's bit for
// bit: there, thread (j, b) owns column j of the weight rows k with k % buckets == b, so every weight_diff
// element has one owner whatever the bucket count.
void embed_backward_cpu(float* weight_diff, float* bias_diff, const float* top_diff, const float* bottom, int64_t M,
                        int K, int N);
void embed_backward_gpu(float* weight_diff, float* bias_diff, const float* top_diff, const float* bottom, int64_t M,
                        int K, int N, cudaStream_t stream);
}  // namespace lrcn
