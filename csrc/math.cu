#include "math.h"

namespace lrcn {
namespace {
__global__ void set_kernel(float* y, int64_t n, float value) {
  LRCN_KERNEL_LOOP(i, n) y[i] = value;
}
__global__ void axpby_kernel(float* y, const float* x, int64_t n, float a, float b) {
  LRCN_KERNEL_LOOP(i, n) y[i] = b == 0.f ? a * x[i] : a * x[i] + b * y[i];
}
// One partial sum per block (double), reduced on the host: n is at most a blob's size.
__global__ void dot_kernel(double* partial, const float* x, const float* y, int64_t n) {
  __shared__ double s[kThreads];
  double acc = 0;
  LRCN_KERNEL_LOOP(i, n) acc += (double)x[i] * y[i];
  s[threadIdx.x] = acc;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w >>= 1) {
    if (threadIdx.x < w) s[threadIdx.x] += s[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}
}  // namespace

void set_gpu(float* y, int64_t n, float value, cudaStream_t stream) {
  if (n > 0) set_kernel<<<blocks_for(n), kThreads, 0, stream>>>(y, n, value);
}
void axpby_gpu(float* y, const float* x, int64_t n, float a, float b, cudaStream_t stream) {
  if (n > 0) axpby_kernel<<<blocks_for(n), kThreads, 0, stream>>>(y, x, n, a, b);
}
double dot_gpu(const float* x, const float* y, int64_t n, cudaStream_t stream) {
  if (n <= 0) return 0;
  const int blocks = blocks_for(n) < 1024 ? blocks_for(n) : 1024;
  double* partial = nullptr;
  LRCN_CUDA_CHECK(cudaMallocAsync(&partial, blocks * sizeof(double), stream));
  dot_kernel<<<blocks, kThreads, 0, stream>>>(partial, x, y, n);
  LRCN_CUDA_LAUNCH_CHECK();
  double host[1024];
  LRCN_CUDA_CHECK(cudaMemcpyAsync(host, partial, blocks * sizeof(double), cudaMemcpyDeviceToHost, stream));
  LRCN_CUDA_CHECK(cudaFreeAsync(partial, stream));
  LRCN_CUDA_CHECK(cudaStreamSynchronize(stream));
  double s = 0;
  for (int b = 0; b < blocks; ++b) s += host[b];
  return s;
}
}  // namespace lrcn
