// Shared idioms for the kernels: error checks, the CUDA guard, loop helpers.
// Kernels take raw pointers and sizes, outputs first; they never see Python objects.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

#ifdef LRCN_WITH_CUDA
#include <cuda_runtime.h>
#define LRCN_CUDA_CHECK(expr)                                                              \
  do {                                                                                     \
    cudaError_t err_ = (expr);                                                             \
    if (err_ != cudaSuccess)                                                               \
      throw std::runtime_error(std::string("CUDA error: ") + cudaGetErrorString(err_) +   \
                               " (" #expr " at " __FILE__ ":" + std::to_string(__LINE__) + ")"); \
  } while (0)
// Launch-error check after every kernel launch (asynchronous faults surface at the next sync).
#define LRCN_CUDA_LAUNCH_CHECK() LRCN_CUDA_CHECK(cudaGetLastError())

namespace lrcn {
constexpr int kThreads = 256;
inline int blocks_for(int64_t n) {
  int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<int>(b < 65535 * 8 ? (b > 0 ? b : 1) : 65535 * 8);
}
}  // namespace lrcn

// Grid-stride loop: the body reads like the CPU loop (Caffe's CUDA_KERNEL_LOOP idiom).
#define LRCN_KERNEL_LOOP(i, n)                                                   \
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n);      \
       i += (int64_t)blockDim.x * gridDim.x)
#else
typedef struct CUstream_st* cudaStream_t;  // lets headers declare the GPU twins without CUDA
#endif

// Inline math shared by the CPU loops and the CUDA kernels (one formula, two compilers).
#ifdef __CUDACC__
#define LRCN_HD __host__ __device__
#else
#define LRCN_HD
#endif

#define LRCN_CHECK(cond, msg)                                       \
  do {                                                              \
    if (!(cond)) throw std::invalid_argument(std::string(msg));     \
  } while (0)
