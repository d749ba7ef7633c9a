#include "layers/embed.h"

#include "device.h"
#include "layers/softmax.h"  // block_reduce

namespace lrcn {
namespace {
// One block: the first position whose index is bad, recorded (a scan of M floats: M is T·N, a few thousand).
__global__ void embed_check_kernel(DeviceFault* fault, int fault_tag, const float* bottom, int64_t M, int K) {
  int64_t first = M;
  for (int64_t m = threadIdx.x; m < M && first == M; m += kThreads)
    if (embed_row(bottom[m], K) == -2) first = m;  // this thread's positions increase
  first = block_reduce(first, MinOp());
  if (threadIdx.x == 0 && first < M) record_fault(fault, fault_tag, FaultKind::kEmbedIndex, first, bottom[first], K);
}

__global__ void embed_forward_kernel(float* top, const float* bottom, const float* weight, const float* bias,
                                     int64_t M, int K, int N) {
  LRCN_KERNEL_LOOP(e, M * N) {
    const int64_t m = e / N, j = e % N;
    const int row = embed_row(bottom[m], K);
    top[e] = (row >= 0 ? weight[(int64_t)row * N + j] : 0.f) + (bias ? bias[j] : 0.f);
  }
}

// Thread (j, b = blockIdx.y): column j of the weight rows k with k % buckets == b, rows added in order of m;
// bucket 0 also sums column j of the bias. The indices are read by every thread of a warp at once (one
// broadcast load), the top_diff values only by their owner.
__global__ void embed_backward_kernel(float* weight_diff, float* bias_diff, const float* top_diff,
                                      const float* bottom, int64_t M, int K, int N) {
  const int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  const int b = blockIdx.y, buckets = gridDim.y;
  if (j >= N) return;
  const bool bias = bias_diff && b == 0;
  float bsum = bias ? bias_diff[j] : 0.f;
  for (int64_t m = 0; m < M; ++m) {
    const int row = embed_row(bottom[m], K);
    const bool mine = weight_diff && row >= 0 && row % buckets == b;
    if (!mine && !bias) continue;
    const float t = top_diff[m * N + j];
    if (mine) weight_diff[(int64_t)row * N + j] += t;
    bsum += t;
  }
  if (bias) bias_diff[j] = bsum;
}
// Buckets of weight rows: enough threads in all, at most 64 (each thread reads every index).
int embed_buckets(int N, int target_threads) {
  const int columns = N > 0 ? N : 1;
  const int buckets = (target_threads + columns - 1) / columns;
  return buckets < 1 ? 1 : buckets > 64 ? 64 : buckets;
}
}  // namespace

void embed_forward_gpu(float* top, const float* bottom, const float* weight, const float* bias, int64_t M, int K, int N,
                       int fault_tag, cudaStream_t stream) {
  if (M * N <= 0) return;
  embed_check_kernel<<<1, kThreads, 0, stream>>>(fault_record(), fault_tag, bottom, M, K);
  LRCN_CUDA_LAUNCH_CHECK();
  embed_forward_kernel<<<blocks_for(M * N), kThreads, 0, stream>>>(top, bottom, weight, bias, M, K, N);
}

void embed_backward_gpu(float* weight_diff, float* bias_diff, const float* top_diff, const float* bottom, int64_t M,
                        int K, int N, cudaStream_t stream) {
  if (N <= 0) return;
  // Enough threads for 4 blocks per SM (on 132 SMs, Embed 8801×1000 of captioning gets the 64 buckets' 64,000 threads).
  const int buckets = weight_diff ? embed_buckets(N, 4 * sm_count() * kThreads) : 1;
  const dim3 grid((N + kThreads - 1) / kThreads, buckets);
  embed_backward_kernel<<<grid, kThreads, 0, stream>>>(weight_diff, bias_diff, top_diff, bottom, M, K, N);
}
}  // namespace lrcn
