#include "layers/embed.h"

namespace lrcn {
namespace {
__global__ void embed_forward_kernel(float* top, unsigned long long* bad, const float* bottom, const float* weight,
                                     const float* bias, int64_t M, int K, int N) {
  LRCN_KERNEL_LOOP(e, M * N) {
    const int64_t m = e / N, j = e % N;
    const int row = embed_row(bottom[m], K);
    if (row == -2 && j == 0) atomicMin(bad, (unsigned long long)m);
    top[e] = (row >= 0 ? weight[(int64_t)row * N + j] : 0.f) + (bias ? bias[j] : 0.f);
  }
}

// One thread per column j, adding the rows in order of m (the CPU's order).
__global__ void embed_backward_kernel(float* weight_diff, float* bias_diff, const float* top_diff,
                                      const float* bottom, int64_t M, int K, int N) {
  LRCN_KERNEL_LOOP(j, N) {
    float bsum = bias_diff ? bias_diff[j] : 0.f;
    for (int64_t m = 0; m < M; ++m) {
      const int row = embed_row(bottom[m], K);
      const float t = top_diff[m * N + j];
      if (weight_diff && row >= 0) weight_diff[(int64_t)row * N + j] += t;
      bsum += t;
    }
    if (bias_diff) bias_diff[j] = bsum;
  }
}
}  // namespace

int64_t embed_forward_gpu(float* top, const float* bottom, const float* weight, const float* bias, int64_t M, int K,
                          int N, cudaStream_t stream) {
  if (M * N <= 0) return -1;
  unsigned long long* bad = nullptr;
  unsigned long long host = 0;
  LRCN_CUDA_CHECK(cudaMallocAsync(&bad, sizeof(*bad), stream));
  LRCN_CUDA_CHECK(cudaMemsetAsync(bad, 0xff, sizeof(*bad), stream));  // "none yet": the largest value
  embed_forward_kernel<<<blocks_for(M * N), kThreads, 0, stream>>>(top, bad, bottom, weight, bias, M, K, N);
  LRCN_CUDA_LAUNCH_CHECK();
  LRCN_CUDA_CHECK(cudaMemcpyAsync(&host, bad, sizeof(host), cudaMemcpyDeviceToHost, stream));
  LRCN_CUDA_CHECK(cudaFreeAsync(bad, stream));
  LRCN_CUDA_CHECK(cudaStreamSynchronize(stream));
  return host == ~0ull ? -1 : (int64_t)host;
}

void embed_backward_gpu(float* weight_diff, float* bias_diff, const float* top_diff, const float* bottom, int64_t M,
                        int K, int N, cudaStream_t stream) {
  if (N > 0)
    embed_backward_kernel<<<blocks_for(N), kThreads, 0, stream>>>(weight_diff, bias_diff, top_diff, bottom, M, K, N);
}
}  // namespace lrcn
