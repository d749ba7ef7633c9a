#include "layers/softmax_loss.h"

#include <cfloat>

#include "device.h"

namespace lrcn {
namespace {
// One block of kThreads threads: thread t sums positions t, t + kThreads, ... in order, then a fixed
// tree combines the threads (deterministic). Position p = o·inner + i with label class cls reads
// prob[(o·channels + cls)·inner + i]. The work is one load per position, so one block is enough.
__global__ void softmax_loss_forward_kernel(float* loss, float* normalizer, DeviceFault* fault, int fault_tag,
                                            const float* prob, const float* label, int outer, int channels, int inner,
                                            bool has_ignore, int ignore_label, LossNormalization mode) {
  const int64_t positions = static_cast<int64_t>(outer) * inner;
  double sum = 0;
  int64_t valid = 0, bad = 0, first_bad = positions;
  for (int64_t p = threadIdx.x; p < positions; p += kThreads) {
    const int cls = label_class(label[p], channels, has_ignore, ignore_label);
    if (cls == kBadLabel && bad++ == 0) first_bad = p;  // this thread's positions increase
    if (cls < 0) continue;
    ++valid;
    sum -= logf(fmaxf(prob[(p / inner * channels + cls) * inner + p % inner], FLT_MIN));
  }
  sum = block_reduce(sum, SumOp());
  valid = block_reduce(valid, SumOp());
  bad = block_reduce(bad, SumOp());
  first_bad = block_reduce(first_bad, MinOp());
  if (threadIdx.x == 0) {
    const float n = loss_normalizer(mode, outer, inner, valid);
    normalizer[0] = n;
    loss[0] = static_cast<float>(sum / n);
    if (bad)
      record_fault(fault, fault_tag, FaultKind::kSoftmaxLossLabel, first_bad, label[first_bad], channels, has_ignore,
                   ignore_label);
  }
}

__global__ void softmax_loss_backward_kernel(float* bottom_diff, const float* prob, const float* label,
                                             const float* loss_diff, int channels, int inner, int64_t n,
                                             bool has_ignore, int ignore_label, const float* normalizer) {
  const float scale = loss_diff[0] / normalizer[0];
  LRCN_KERNEL_LOOP(k, n) {
    const int64_t i = k % inner, c = k / inner % channels, o = k / inner / channels;
    const int cls = label_class(label[o * inner + i], channels, has_ignore, ignore_label);
    bottom_diff[k] = cls < 0 ? 0.f : (prob[k] - (c == cls ? 1.f : 0.f)) * scale;
  }
}
}  // namespace

void softmax_loss_forward_gpu(float* loss, float* normalizer, const float* prob, const float* label, int outer,
                              int channels, int inner, bool has_ignore, int ignore_label, LossNormalization mode,
                              int fault_tag, cudaStream_t stream) {
  softmax_loss_forward_kernel<<<1, kThreads, 0, stream>>>(loss, normalizer, fault_record(), fault_tag, prob, label,
                                                          outer, channels, inner, has_ignore, ignore_label, mode);
}

void softmax_loss_backward_gpu(float* bottom_diff, const float* prob, const float* label, const float* loss_diff,
                               int outer, int channels, int inner, bool has_ignore, int ignore_label,
                               const float* normalizer, cudaStream_t stream) {
  const int64_t n = static_cast<int64_t>(outer) * channels * inner;
  if (n > 0)
    softmax_loss_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(bottom_diff, prob, label, loss_diff, channels,
                                                                         inner, n, has_ignore, ignore_label, normalizer);
}
}  // namespace lrcn
