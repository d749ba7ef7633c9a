#include "math.h"

#include "device.h"
#include "layers/softmax.h"  // block_reduce

namespace lrcn {
namespace {
__global__ void set_kernel(float* y, int64_t n, float value) {
  LRCN_KERNEL_LOOP(i, n) y[i] = value;
}
__global__ void axpby_kernel(float* y, const float* x, int64_t n, float a, float b) {
  LRCN_KERNEL_LOOP(i, n) y[i] = b == 0.f ? a * x[i] : a * x[i] + b * y[i];
}
// One partial sum per block (double): partial[blockIdx.x].
__global__ void dot_kernel(double* partial, const float* x, const float* y, int64_t n) {
  double acc = 0;
  LRCN_KERNEL_LOOP(i, n) acc += (double)x[i] * y[i];
  acc = block_reduce(acc, SumOp());
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}
// One block: out[0] = Σ partial[0..n) (thread t takes t, t + kThreads, ...; then the tree).
__global__ void sum_kernel(double* out, const double* partial, int64_t n) {
  double acc = 0;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) acc += partial[i];
  acc = block_reduce(acc, SumOp());
  if (threadIdx.x == 0) out[0] = acc;
}
int dot_blocks(int64_t n) { return blocks_for(n) < 1024 ? blocks_for(n) : 1024; }
}  // namespace

void set_gpu(float* y, int64_t n, float value, cudaStream_t stream) {
  if (n > 0) set_kernel<<<blocks_for(n), kThreads, 0, stream>>>(y, n, value);
}
void axpby_gpu(float* y, const float* x, int64_t n, float a, float b, cudaStream_t stream) {
  if (n > 0) axpby_kernel<<<blocks_for(n), kThreads, 0, stream>>>(y, x, n, a, b);
}
double dot_many_gpu(const float* const* x, const float* const* y, const int64_t* n, int count, cudaStream_t stream) {
  int64_t partials = 0;
  for (int i = 0; i < count; ++i) partials += n[i] > 0 ? dot_blocks(n[i]) : 0;
  if (partials == 0) return 0;
  std::unique_lock<std::mutex> lock;
  double* scratch = reduce_scratch(partials + 1, lock);  // partials, then the sum
  for (int i = 0, offset = 0; i < count; ++i) {
    if (n[i] <= 0) continue;
    dot_kernel<<<dot_blocks(n[i]), kThreads, 0, stream>>>(scratch + offset, x[i], y[i], n[i]);
    LRCN_CUDA_LAUNCH_CHECK();
    offset += dot_blocks(n[i]);
  }
  sum_kernel<<<1, kThreads, 0, stream>>>(scratch + partials, scratch, partials);
  LRCN_CUDA_LAUNCH_CHECK();
  double s = 0;
  LRCN_CUDA_CHECK(cudaMemcpyAsync(&s, scratch + partials, sizeof(double), cudaMemcpyDeviceToHost, stream));
  LRCN_CUDA_CHECK(cudaStreamSynchronize(stream));
  return s;
}
}  // namespace lrcn
