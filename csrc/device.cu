#include "device.h"

#include <atomic>
#include <map>
#include <utility>

namespace lrcn {
namespace {
constexpr int kMaxDevices = 64;

int current_device() {
  int device = 0;
  LRCN_CUDA_CHECK(cudaGetDevice(&device));
  LRCN_CHECK(device >= 0 && device < kMaxDevices, "lrcn_native supports device ids below 64");
  return device;
}
}  // namespace

DeviceFault* fault_record() {
  static std::mutex mutex;
  static DeviceFault* record[kMaxDevices] = {};
  const int device = current_device();
  std::lock_guard<std::mutex> lock(mutex);
  if (!record[device]) {
    LRCN_CUDA_CHECK(cudaMalloc(&record[device], sizeof(DeviceFault)));
    LRCN_CUDA_CHECK(cudaMemset(record[device], 0, sizeof(DeviceFault)));  // synchronous: ready for any stream
  }
  return record[device];
}

DeviceFault fault_take(cudaStream_t stream) {
  DeviceFault* record = fault_record();
  DeviceFault seen;
  LRCN_CUDA_CHECK(cudaMemcpyAsync(&seen, record, sizeof seen, cudaMemcpyDeviceToHost, stream));
  LRCN_CUDA_CHECK(cudaStreamSynchronize(stream));
  if (seen.kind != 0) LRCN_CUDA_CHECK(cudaMemsetAsync(record, 0, sizeof seen, stream));  // before later launches
  return seen;
}

int sm_count() {
  static std::atomic<int> cache[kMaxDevices];  // 0: not yet read
  const int device = current_device();
  int sms = cache[device].load(std::memory_order_relaxed);
  if (sms == 0) {
    LRCN_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    cache[device].store(sms, std::memory_order_relaxed);
  }
  return sms;
}

double* reduce_scratch(size_t n, std::unique_lock<std::mutex>& lock) {
  static std::mutex mutex;
  static double* scratch[kMaxDevices] = {};
  static size_t size[kMaxDevices] = {};
  lock = std::unique_lock<std::mutex>(mutex);
  const int device = current_device();
  if (size[device] < n) {
    // The previous user synchronised before releasing the lock: nothing in flight reads the old buffer.
    if (scratch[device]) LRCN_CUDA_CHECK(cudaFree(scratch[device]));
    scratch[device] = nullptr, size[device] = 0;
    LRCN_CUDA_CHECK(cudaMalloc(&scratch[device], n * sizeof(double)));
    size[device] = n;
  }
  return scratch[device];
}

float* gemm_workspace(int64_t n, cudaStream_t stream) {
  static std::mutex mutex;
  static std::map<std::pair<int, cudaStream_t>, std::pair<float*, int64_t>> buffers;
  const int device = current_device();
  std::lock_guard<std::mutex> lock(mutex);
  auto& [ptr, size] = buffers[{device, stream}];
  if (size < n) {
    // cudaFree waits for the device, so no queued GEMM still reads the old buffer.
    if (ptr) LRCN_CUDA_CHECK(cudaFree(ptr));
    ptr = nullptr, size = 0;
    LRCN_CUDA_CHECK(cudaMalloc(&ptr, n * sizeof(float)));
    size = n;
  }
  return ptr;
}
}  // namespace lrcn
