#include "layers/eltwise.h"

namespace lrcn {
namespace {
// One kernel per pass of eltwise.cpp; each reads like that pass's loop body.
__global__ void scale_kernel(float* y, const float* x, float a, int64_t n) {  // y = a·x
  LRCN_KERNEL_LOOP(e, n) y[e] = a * x[e];
}
__global__ void mul_kernel(float* y, const float* a, const float* b, int64_t n) {  // y = a·b (y may be a)
  LRCN_KERNEL_LOOP(e, n) y[e] = a[e] * b[e];
}
__global__ void div_kernel(float* y, const float* a, const float* b, int64_t n) {  // y = a / b
  LRCN_KERNEL_LOOP(e, n) y[e] = a[e] / b[e];
}
__global__ void axpy_kernel(float* y, const float* x, float a, int64_t n) {  // y += a·x
  LRCN_KERNEL_LOOP(e, n) y[e] += a * x[e];
}
__global__ void max_first_kernel(float* top, float* mask, const float* a, const float* b, int64_t n) {
  LRCN_KERNEL_LOOP(e, n) {
    const bool first = a[e] > b[e];
    top[e] = first ? a[e] : b[e];
    mask[e] = first ? 0.f : 1.f;
  }
}
__global__ void max_next_kernel(float* top, float* mask, const float* b, float j, int64_t n) {
  LRCN_KERNEL_LOOP(e, n) {
    if (b[e] > top[e]) {
      top[e] = b[e];
      mask[e] = j;
    }
  }
}
__global__ void max_backward_kernel(float* bottom_diff, const float* top_diff, const float* mask, float i, int64_t n) {
  LRCN_KERNEL_LOOP(e, n) bottom_diff[e] = mask[e] == i ? top_diff[e] : 0.f;
}
}  // namespace

void eltwise_forward_gpu(float* top, float* mask, const float* const* bottoms, const float* coeff, int k, int64_t n,
                         int op, cudaStream_t stream) {
  if (n == 0) return;
  const int g = blocks_for(n);
  switch (op) {
    case kEltwiseProd:
      mul_kernel<<<g, kThreads, 0, stream>>>(top, bottoms[0], bottoms[1], n);
      for (int j = 2; j < k; ++j) mul_kernel<<<g, kThreads, 0, stream>>>(top, top, bottoms[j], n);
      break;
    case kEltwiseSum:
      scale_kernel<<<g, kThreads, 0, stream>>>(top, bottoms[0], coeff[0], n);
      for (int j = 1; j < k; ++j) axpy_kernel<<<g, kThreads, 0, stream>>>(top, bottoms[j], coeff[j], n);
      break;
    case kEltwiseMax:
      max_first_kernel<<<g, kThreads, 0, stream>>>(top, mask, bottoms[0], bottoms[1], n);
      for (int j = 2; j < k; ++j)
        max_next_kernel<<<g, kThreads, 0, stream>>>(top, mask, bottoms[j], static_cast<float>(j), n);
      break;
  }
}

void eltwise_backward_gpu(float* bottom_diff, const float* top_diff, const float* top, const float* const* bottoms,
                          const float* mask, const float* coeff, int k, int i, int64_t n, int op,
                          bool stable_prod_grad, cudaStream_t stream) {
  if (n == 0) return;
  const int g = blocks_for(n);
  switch (op) {
    case kEltwiseProd:
      if (stable_prod_grad) {
        const int first = i == 0 ? 1 : 0;
        scale_kernel<<<g, kThreads, 0, stream>>>(bottom_diff, bottoms[first], 1.f, n);
        for (int j = first + 1; j < k; ++j)
          if (j != i) mul_kernel<<<g, kThreads, 0, stream>>>(bottom_diff, bottom_diff, bottoms[j], n);
      } else {
        div_kernel<<<g, kThreads, 0, stream>>>(bottom_diff, top, bottoms[i], n);
      }
      mul_kernel<<<g, kThreads, 0, stream>>>(bottom_diff, bottom_diff, top_diff, n);
      break;
    case kEltwiseSum:
      scale_kernel<<<g, kThreads, 0, stream>>>(bottom_diff, top_diff, coeff[i], n);
      break;
    case kEltwiseMax:
      max_backward_kernel<<<g, kThreads, 0, stream>>>(bottom_diff, top_diff, mask, static_cast<float>(i), n);
      break;
  }
}
}  // namespace lrcn
