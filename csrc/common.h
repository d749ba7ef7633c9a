// Shared idioms for the kernels: error checks, the CUDA guard, loop helpers.
// Kernels take raw pointers and sizes, outputs first; they never see Python objects.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

#ifdef LRCN_WITH_CUDA
#include <cuda_runtime.h>
namespace lrcn {
// Raises a failed CUDA call as std::runtime_error, first clearing the runtime's last error, which the call
// also set: left set, the next healthy launch's check would raise it again. Faults of a kernel that ran
// earlier (an illegal address...) surface at a later call and leave the context unusable: the message
// says how to find the launcher.
[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* expr, const char* file, int line) {
  cudaGetLastError();
  std::string msg = std::string("CUDA error: ") + cudaGetErrorString(err) + " (" + expr + " at " + file + ":" +
                    std::to_string(line) + ")";
  switch (err) {
    case cudaErrorIllegalAddress: case cudaErrorLaunchFailure: case cudaErrorMisalignedAddress:
    case cudaErrorIllegalInstruction: case cudaErrorHardwareStackError: case cudaErrorAssert:
      msg += "; a kernel launched earlier faulted (rerun with CUDA_LAUNCH_BLOCKING=1 to name its layer) and the "
             "CUDA context is unusable until the process restarts";
      break;
    default: break;
  }
  throw std::runtime_error(msg);
}
}  // namespace lrcn
#define LRCN_CUDA_CHECK(expr)                                                   \
  do {                                                                          \
    cudaError_t err_ = (expr);                                                  \
    if (err_ != cudaSuccess) ::lrcn::throw_cuda_error(err_, #expr, __FILE__, __LINE__); \
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
