#include "layers/scale.h"

namespace lrcn {
namespace {
__global__ void scale_forward_kernel(float* top, const float* bottom, const float* scale, const float* bias,
                                     int64_t n, int64_t channels, int64_t inner) {
  LRCN_KERNEL_LOOP(j, n) {
    const int64_t c = (j / inner) % channels;
    top[j] = bottom[j] * (scale ? scale[c] : 1.f) + (bias ? bias[c] : 0.f);
  }
}

// One block per channel: each thread sums a strided share of the channel's outer·inner terms (in double,
// as the CPU loop), then a tree reduction in shared memory.
__global__ void channel_sum_kernel(float* out, const float* a, const float* b, int64_t outer, int64_t channels,
                                   int64_t inner, float beta) {
  __shared__ double part[kThreads];
  const int64_t c = blockIdx.x;
  double sum = 0;
  for (int64_t j = threadIdx.x; j < outer * inner; j += blockDim.x) {
    const int64_t k = ((j / inner) * channels + c) * inner + j % inner;
    sum += b ? (double)a[k] * b[k] : (double)a[k];
  }
  part[threadIdx.x] = sum;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[c] = beta == 0.f ? (float)part[0] : (float)(beta * out[c] + part[0]);
}
}  // namespace

void scale_forward_gpu(float* top, const float* bottom, const float* scale, const float* bias, int64_t outer,
                       int64_t channels, int64_t inner, cudaStream_t stream) {
  const int64_t n = outer * channels * inner;
  if (n > 0) scale_forward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(top, bottom, scale, bias, n, channels, inner);
}
void channel_sum_gpu(float* out, const float* a, const float* b, int64_t outer, int64_t channels, int64_t inner,
                     float beta, cudaStream_t stream) {
  if (channels > 0) channel_sum_kernel<<<(unsigned)channels, kThreads, 0, stream>>>(out, a, b, outer, channels, inner, beta);
}
}  // namespace lrcn
