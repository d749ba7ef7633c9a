// Eltwise: one top from k ≥ 2 bottoms of n elements each, elementwise (operation numbers as caffe.proto):
//   PROD (0): top = b_0 · b_1 · … · b_{k−1}
//   SUM  (1): top = Σ_i coeff_i · b_i
//   MAX  (2): top = max_i b_i, mask = the argmax i (ties keep the earlier winner, except that between
//             b_0 and b_1 a tie goes to b_1: Caffe's `a > b ? a : b` then `b_i > top`). The mask is
//             float (an exact integer), like Caffe's pooling mask top.
// Backward for bottom i (bottom_diff and top_diff have n elements):
//   PROD: dx_i = dy · Π_{j≠i} b_j when stable_prod_grad (Caffe's default), else dy · top / b_i
//         (cheaper, but wrong where b_i = 0);
//   SUM:  dx_i = coeff_i · dy;   MAX: dx_i = dy where mask = i, else 0.
// `bottoms` is a host array of k pointers (to device memory in the _gpu twins). Each function makes one
// pass per bottom, in bottom order, so CPU and GPU do the same float operations.
#pragma once
#include "common.h"

namespace lrcn {
enum EltwiseOp { kEltwiseProd = 0, kEltwiseSum = 1, kEltwiseMax = 2 };

void eltwise_forward_cpu(float* top, float* mask, const float* const* bottoms, const float* coeff, int k, int64_t n,
                         int op);
void eltwise_backward_cpu(float* bottom_diff, const float* top_diff, const float* top, const float* const* bottoms,
                          const float* mask, const float* coeff, int k, int i, int64_t n, int op,
                          bool stable_prod_grad);

void eltwise_forward_gpu(float* top, float* mask, const float* const* bottoms, const float* coeff, int k, int64_t n,
                         int op, cudaStream_t stream);
void eltwise_backward_gpu(float* bottom_diff, const float* top_diff, const float* top, const float* const* bottoms,
                          const float* mask, const float* coeff, int k, int i, int64_t n, int op,
                          bool stable_prod_grad, cudaStream_t stream);
}  // namespace lrcn
