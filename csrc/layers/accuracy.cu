#include "layers/accuracy.h"

#include "device.h"

namespace lrcn {
namespace {
// One warp per position p = o·inner + i (lanes over channels): flag[p] = 1 correct, 0 wrong, or the
// label's negative class code (kIgnored, kBadLabel), as floats (exact). cls is the same in every lane of a warp.
__global__ void accuracy_position_kernel(float* flag, const float* bottom, const float* label, int64_t positions,
                                         int channels, int inner, int top_k, bool has_ignore, int ignore_label) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * blockDim.x / 32;
  for (int64_t p = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32; p < positions; p += warps) {
    const int cls = label_class(label[p], channels, has_ignore, ignore_label);
    int result = cls;
    if (cls >= 0) {
      const float* x = bottom + p / inner * channels * inner + p % inner;
      const float s = x[static_cast<int64_t>(cls) * inner];
      int ahead = 0;  // classes other than cls scoring >= s
      for (int c = lane; c < channels; c += 32) ahead += (c != cls && x[static_cast<int64_t>(c) * inner] >= s);
      result = warp_reduce(ahead, SumOp()) < top_k;
    }
    if (lane == 0) flag[p] = result;
  }
}

// One block: counts in a fixed order (thread t takes positions t, t + kThreads, ...).
__global__ void accuracy_reduce_kernel(float* accuracy, DeviceFault* fault, int fault_tag, const float* flag,
                                       const float* label, int64_t positions, int channels, bool has_ignore,
                                       int ignore_label) {
  int64_t valid = 0, correct = 0, bad = 0, first_bad = positions;
  for (int64_t p = threadIdx.x; p < positions; p += kThreads) {
    valid += flag[p] >= 0;
    correct += flag[p] == 1;
    if (flag[p] == kBadLabel && bad++ == 0) first_bad = p;
  }
  valid = block_reduce(valid, SumOp());
  correct = block_reduce(correct, SumOp());
  bad = block_reduce(bad, SumOp());
  first_bad = block_reduce(first_bad, MinOp());
  if (threadIdx.x == 0) {
    accuracy[0] = valid ? static_cast<float>(correct) / static_cast<float>(valid) : 0.f;
    if (bad)
      record_fault(fault, fault_tag, FaultKind::kAccuracyLabel, first_bad, label[first_bad], channels, has_ignore,
                   ignore_label);
  }
}

// Block c: accuracy over the positions labelled c.
__global__ void accuracy_per_class_kernel(float* per_class, const float* flag, const float* label, int64_t positions,
                                          int channels, bool has_ignore, int ignore_label) {
  const int c = blockIdx.x;
  int64_t valid = 0, correct = 0;
  for (int64_t p = threadIdx.x; p < positions; p += kThreads) {
    if (label_class(label[p], channels, has_ignore, ignore_label) != c) continue;
    ++valid;
    correct += flag[p] == 1;
  }
  valid = block_reduce(valid, SumOp());
  correct = block_reduce(correct, SumOp());
  if (threadIdx.x == 0) per_class[c] = valid ? static_cast<float>(correct) / static_cast<float>(valid) : 0.f;
}
}  // namespace

void accuracy_forward_gpu(float* accuracy, float* per_class, float* flag, const float* bottom, const float* label,
                          int outer, int channels, int inner, int top_k, bool has_ignore, int ignore_label,
                          int fault_tag, cudaStream_t stream) {
  const int64_t positions = static_cast<int64_t>(outer) * inner;
  if (positions > 0) {
    accuracy_position_kernel<<<blocks_for(positions * 32), kThreads, 0, stream>>>(flag, bottom, label, positions,
                                                                                  channels, inner, top_k, has_ignore,
                                                                                  ignore_label);
    LRCN_CUDA_LAUNCH_CHECK();
  }
  accuracy_reduce_kernel<<<1, kThreads, 0, stream>>>(accuracy, fault_record(), fault_tag, flag, label, positions,
                                                     channels, has_ignore, ignore_label);
  LRCN_CUDA_LAUNCH_CHECK();
  if (per_class && channels > 0)
    accuracy_per_class_kernel<<<channels, kThreads, 0, stream>>>(per_class, flag, label, positions, channels,
                                                                 has_ignore, ignore_label);
}
}  // namespace lrcn
