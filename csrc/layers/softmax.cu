#include "layers/softmax.h"

namespace lrcn {
namespace {
// One warp per position p = o·inner + i: lane l handles channels l, l + 32, ... Coalesced when inner == 1
// (softmax over the last axis, LRCN's case); for inner > 1 the loads are strided by inner.
__global__ void softmax_forward_kernel(float* top, const float* bottom, int64_t positions, int channels, int inner) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * blockDim.x / 32;
  for (int64_t p = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32; p < positions; p += warps) {
    const int64_t base = p / inner * channels * inner + p % inner;
    const float* x = bottom + base;
    float* y = top + base;
    float m = -INFINITY;
    for (int c = lane; c < channels; c += 32) m = fmaxf(m, x[static_cast<int64_t>(c) * inner]);
    m = warp_reduce(m, MaxOp());
    float sum = 0.f;
    for (int c = lane; c < channels; c += 32) {
      const float e = expf(x[static_cast<int64_t>(c) * inner] - m);
      y[static_cast<int64_t>(c) * inner] = e;
      sum += e;
    }
    sum = warp_reduce(sum, SumOp());
    for (int c = lane; c < channels; c += 32) y[static_cast<int64_t>(c) * inner] /= sum;
  }
}

__global__ void softmax_backward_kernel(float* bottom_diff, const float* top_diff, const float* top, int64_t positions,
                                        int channels, int inner) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * blockDim.x / 32;
  for (int64_t p = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32; p < positions; p += warps) {
    const int64_t base = p / inner * channels * inner + p % inner;
    const float *dy = top_diff + base, *y = top + base;
    float* dx = bottom_diff + base;
    float dot = 0.f;  // Σ_c dy_c·y_c
    for (int c = lane; c < channels; c += 32) dot += dy[static_cast<int64_t>(c) * inner] * y[static_cast<int64_t>(c) * inner];
    dot = warp_reduce(dot, SumOp());
    for (int c = lane; c < channels; c += 32) {
      const int64_t k = static_cast<int64_t>(c) * inner;
      dx[k] = y[k] * (dy[k] - dot);
    }
  }
}
}  // namespace

void softmax_forward_gpu(float* top, const float* bottom, int outer, int channels, int inner, cudaStream_t stream) {
  const int64_t positions = static_cast<int64_t>(outer) * inner;
  if (positions > 0 && channels > 0)
    softmax_forward_kernel<<<blocks_for(positions * 32), kThreads, 0, stream>>>(top, bottom, positions, channels, inner);
}
void softmax_backward_gpu(float* bottom_diff, const float* top_diff, const float* top, int outer, int channels,
                          int inner, cudaStream_t stream) {
  const int64_t positions = static_cast<int64_t>(outer) * inner;
  if (positions > 0 && channels > 0)
    softmax_backward_kernel<<<blocks_for(positions * 32), kThreads, 0, stream>>>(bottom_diff, top_diff, top,
                                                                                 positions, channels, inner);
}
}  // namespace lrcn
