#include "layers/pooling.h"

namespace lrcn {
namespace {
// Forward: one thread per top element (n, c, ph, pw), the CPU loop body for one window.
__global__ void max_forward_kernel(float* top, float* mask, const float* bottom, PoolGeometry g, int64_t count) {
  LRCN_KERNEL_LOOP(index, count) {
    const int pw = index % g.pooled_w, ph = (index / g.pooled_w) % g.pooled_h;
    const float* x = bottom + index / ((int64_t)g.pooled_w * g.pooled_h) * g.height * g.width;
    const int h0 = ph * g.stride_h - g.pad_h, w0 = pw * g.stride_w - g.pad_w;
    const int hstart = max(h0, 0), hend = min(h0 + g.kernel_h, g.height);
    const int wstart = max(w0, 0), wend = min(w0 + g.kernel_w, g.width);
    int best_i = hstart * g.width + wstart;
    float best = x[best_i];
    for (int h = hstart; h < hend; ++h)
      for (int w = wstart; w < wend; ++w) {
        const int i = h * g.width + w;
        if (x[i] > best) {  // strictly: the first maximum wins ties
          best = x[i];
          best_i = i;
        }
      }
    top[index] = best;
    mask[index] = static_cast<float>(best_i);
  }
}

__global__ void ave_forward_kernel(float* top, const float* bottom, PoolGeometry g, int64_t count) {
  LRCN_KERNEL_LOOP(index, count) {
    const int pw = index % g.pooled_w, ph = (index / g.pooled_w) % g.pooled_h;
    const float* x = bottom + index / ((int64_t)g.pooled_w * g.pooled_h) * g.height * g.width;
    const PoolWindow p = pool_window(g, ph, pw);
    float sum = 0.f;
    for (int h = p.hstart; h < p.hend; ++h)
      for (int w = p.wstart; w < p.wend; ++w) sum += x[h * g.width + w];
    top[index] = sum / p.area;
  }
}

// Backward: one thread per bottom element (n, c, h, w) gathers from the windows that contain it
// (no atomics), in the same (ph, pw) order as the CPU's scatter, so both sum identically.
// Windows containing row h: ph·stride − pad ≤ h < ph·stride − pad + kernel.
__device__ inline void covering(int x, int kernel, int stride, int pad, int pooled, int* first, int* last) {
  *first = x + pad < kernel ? 0 : (x + pad - kernel) / stride + 1;
  *last = min((x + pad) / stride + 1, pooled);
}

__global__ void max_backward_kernel(float* bottom_diff, const float* top_diff, const float* mask, PoolGeometry g,
                                    int64_t count) {
  LRCN_KERNEL_LOOP(index, count) {
    const int w = index % g.width, h = (index / g.width) % g.height;
    const int64_t offset = index / ((int64_t)g.width * g.height) * g.pooled_h * g.pooled_w;
    const float* dy = top_diff + offset;
    const float* m = mask + offset;
    int phstart, phend, pwstart, pwend;
    covering(h, g.kernel_h, g.stride_h, g.pad_h, g.pooled_h, &phstart, &phend);
    covering(w, g.kernel_w, g.stride_w, g.pad_w, g.pooled_w, &pwstart, &pwend);
    const float self = static_cast<float>(h * g.width + w);
    float grad = 0.f;
    for (int ph = phstart; ph < phend; ++ph)
      for (int pw = pwstart; pw < pwend; ++pw)
        if (m[ph * g.pooled_w + pw] == self) grad += dy[ph * g.pooled_w + pw];
    bottom_diff[index] = grad;
  }
}

__global__ void ave_backward_kernel(float* bottom_diff, const float* top_diff, PoolGeometry g, int64_t count) {
  LRCN_KERNEL_LOOP(index, count) {
    const int w = index % g.width, h = (index / g.width) % g.height;
    const float* dy = top_diff + index / ((int64_t)g.width * g.height) * g.pooled_h * g.pooled_w;
    int phstart, phend, pwstart, pwend;
    covering(h, g.kernel_h, g.stride_h, g.pad_h, g.pooled_h, &phstart, &phend);
    covering(w, g.kernel_w, g.stride_w, g.pad_w, g.pooled_w, &pwstart, &pwend);
    float grad = 0.f;
    for (int ph = phstart; ph < phend; ++ph)
      for (int pw = pwstart; pw < pwend; ++pw) grad += dy[ph * g.pooled_w + pw] / pool_window(g, ph, pw).area;
    bottom_diff[index] = grad;
  }
}
}  // namespace

void pooling_forward_gpu(float* top, float* mask, const float* bottom, const PoolGeometry& g, PoolMethod method,
                         cudaStream_t stream) {
  const int64_t count = (int64_t)g.num * g.channels * g.pooled_h * g.pooled_w;
  if (count == 0) return;
  if (method == PoolMethod::kMax) max_forward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(top, mask, bottom, g, count);
  else ave_forward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(top, bottom, g, count);
}

void pooling_backward_gpu(float* bottom_diff, const float* top_diff, const float* mask, const PoolGeometry& g,
                          PoolMethod method, cudaStream_t stream) {
  const int64_t count = (int64_t)g.num * g.channels * g.height * g.width;
  if (count == 0) return;
  if (method == PoolMethod::kMax)
    max_backward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(bottom_diff, top_diff, mask, g, count);
  else ave_backward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(bottom_diff, top_diff, g, count);
}
}  // namespace lrcn
