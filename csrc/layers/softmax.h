// Softmax along one axis of a blob viewed as outer × channels × inner (outer: the axes before `axis`,
// inner: the axes after it). At each of the outer·inner positions:
//   y_c = exp(x_c − max_k x_k) / Σ_k exp(x_k − max_k x_k)
// Backward: dx_c = y_c · (dy_c − Σ_k dy_k·y_k).
// top/bottom/top_diff/bottom_diff have outer·channels·inner elements; in place (top == bottom,
// bottom_diff == top_diff) is allowed.
#pragma once
#include "common.h"

namespace lrcn {
void softmax_forward_cpu(float* top, const float* bottom, int outer, int channels, int inner);
void softmax_backward_cpu(float* bottom_diff, const float* top_diff, const float* top, int outer, int channels,
                          int inner);
void softmax_forward_gpu(float* top, const float* bottom, int outer, int channels, int inner, cudaStream_t stream);
void softmax_backward_gpu(float* bottom_diff, const float* top_diff, const float* top, int outer, int channels,
                          int inner, cudaStream_t stream);

#ifdef __CUDACC__
// Reductions for the GPU kernels of softmax, softmax_loss and accuracy, in a fixed order so that
// repeated runs give bit-identical results. Warp: xor butterfly (every lane ends with the same value,
// since a + b == b + a exactly). Block (blockDim.x == kThreads): a shared-memory tree; every thread
// gets the result.
struct SumOp {
  template <typename T>
  __device__ T operator()(T a, T b) const { return a + b; }
};
struct MaxOp {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct MinOp {
  template <typename T>
  __device__ T operator()(T a, T b) const { return b < a ? b : a; }
};
template <typename T, typename Op>
__device__ T warp_reduce(T v, Op op) {
  for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}
template <typename T, typename Op>
__device__ T block_reduce(T v, Op op) {
  __shared__ T s[kThreads];
  s[threadIdx.x] = v;
  __syncthreads();
  for (int w = kThreads / 2; w > 0; w >>= 1) {
    if (threadIdx.x < w) s[threadIdx.x] = op(s[threadIdx.x], s[threadIdx.x + w]);
    __syncthreads();
  }
  const T r = s[0];
  __syncthreads();  // s is reused by the next call
  return r;
}
#endif
}  // namespace lrcn
