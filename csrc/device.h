// Per-device state the GPU kernels share, none of it on the hot path's allocator:
// - the fault record: a bad input a kernel meets (a label naming no class, an index outside the table) is
//   recorded in a small device struct instead of a copy and a synchronisation in every forward; the host
//   reads it at its next synchronisation point (fault_take, K.fault()). The first faulting launch in stream
//   order wins; its kernel picks one bad position deterministically. (Device memory, not mapped host memory:
//   device atomics on host memory need a link with native host atomics, which PCIe machines lack.)
// - attributes read once per device (the GEMM's tile choice asks for the SM count at every call);
// - a persistent reduction scratch for the calls that return a number to the host (dot, sumsq), which
//   synchronise anyway; the lock keeps one user at a time;
// - the GEMM's split-K workspace, one per device and stream.
#pragma once
#include <cstdint>
#include <mutex>

#include "common.h"

namespace lrcn {

enum class FaultKind : int { kNone = 0, kSoftmaxLossLabel, kAccuracyLabel, kEmbedIndex };

struct DeviceFault {
  int kind;          // FaultKind; kNone until the first fault
  int tag;           // the launcher's tag (the Net's layer, set from Python before each layer)
  long long position;  // position of the bad value in its input
  float value;       // the bad value
  int limit;         // classes (labels) or input_dim (indices)
  int has_ignore, ignore_label;
};

#ifdef LRCN_WITH_CUDA
// The current device's fault record (device memory, zeroed when first made).
DeviceFault* fault_record();
// Waits for `stream`, then returns the current device's record and clears it (kind kNone: no fault).
DeviceFault fault_take(cudaStream_t stream);
int sm_count();  // multiprocessors of the current device, queried once per device

// At least `n` floats of device workspace for work queued on `stream` (the GEMM's split-K partials): one
// buffer per device and stream, kept and grown, so reuse is ordered by the stream and needs no lock.
float* gemm_workspace(int64_t n, cudaStream_t stream);

// At least `n` doubles of device scratch on the current device; hold the returned lock for as long as
// the scratch is in use (until the stream has been synchronised).
double* reduce_scratch(size_t n, std::unique_lock<std::mutex>& lock);

#ifdef __CUDACC__
// Called by one thread per launch (the one that found the launch's first bad position).
__device__ inline void record_fault(DeviceFault* f, int tag, FaultKind kind, long long position, float value,
                                    int limit, bool has_ignore = false, int ignore_label = 0) {
  if (atomicCAS(&f->kind, 0, -1) != 0) return;  // an earlier fault stays; -1: being written
  f->tag = tag, f->position = position, f->value = value, f->limit = limit;
  f->has_ignore = has_ignore, f->ignore_label = ignore_label;
  __threadfence();
  atomicExch(&f->kind, static_cast<int>(kind));
}
#endif
#endif
}  // namespace lrcn
