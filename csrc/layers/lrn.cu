#include "layers/lrn.h"

namespace lrcn {
namespace {
// s^−β, the same expression as the CPU's (β = 0.75 through square roots; IEEE sqrt and division).
__device__ inline float pow_neg_beta(float s, float beta) {
  if (beta == 0.75f) {
    const float r = sqrtf(s);
    return 1.f / (r * sqrtf(r));
  }
  return powf(s, -beta);
}

// ACROSS_CHANNELS scale: one thread per (n, h, w) column slides the window sum over the channels.
__global__ void across_scale_kernel(float* scale, const float* bottom, LrnParams p, int64_t columns) {
  LRCN_KERNEL_LOOP(index, columns) {
    const int64_t hw = (int64_t)p.height * p.width;
    const int64_t base = index / hw * p.channels * hw + index % hw;
    const int C = p.channels, half = p.local_size / 2;
    const double alpha_over_n = (double)p.alpha / p.local_size;
    const float* x = bottom + base;
    double acc = 0;
    for (int c = 0; c < min(half, C); ++c) acc += (double)x[c * hw] * x[c * hw];
    for (int c = 0; c < C; ++c) {
      if (c + half < C) acc += (double)x[(c + half) * hw] * x[(c + half) * hw];
      if (c - half - 1 >= 0) acc -= (double)x[(c - half - 1) * hw] * x[(c - half - 1) * hw];
      scale[base + c * hw] = static_cast<float>(p.k + alpha_over_n * acc);
    }
  }
}

// WITHIN_CHANNEL scale: one thread per element sums its n×n window.
__global__ void within_scale_kernel(float* scale, const float* bottom, LrnParams p, int64_t count) {
  LRCN_KERNEL_LOOP(index, count) {
    const int w = index % p.width, h = (index / p.width) % p.height, half = p.local_size / 2;
    const float* x = bottom + (index - (int64_t)h * p.width - w);  // the plane
    double acc = 0;
    for (int hh = max(h - half, 0); hh < min(h + half + 1, p.height); ++hh)
      for (int ww = max(w - half, 0); ww < min(w + half + 1, p.width); ++ww)
        acc += (double)x[hh * p.width + ww] * x[hh * p.width + ww];
    scale[index] = static_cast<float>(1.0 + (double)p.alpha / ((double)p.local_size * p.local_size) * acc);
  }
}

__global__ void output_kernel(float* top, const float* scale, const float* bottom, float beta, int64_t count) {
  LRCN_KERNEL_LOOP(i, count) top[i] = bottom[i] * pow_neg_beta(scale[i], beta);
}

// ACROSS_CHANNELS backward: one thread per column slides Σ top_diff · top / scale over the channels.
__global__ void across_backward_kernel(float* bottom_diff, const float* top_diff, const float* top,
                                       const float* scale, const float* bottom, LrnParams p, int64_t columns) {
  LRCN_KERNEL_LOOP(index, columns) {
    const int64_t hw = (int64_t)p.height * p.width;
    const int64_t base = index / hw * p.channels * hw + index % hw;
    const int C = p.channels, half = p.local_size / 2;
    const double coeff = 2.0 * p.alpha * p.beta / p.local_size;
    const float *x = bottom + base, *dy = top_diff + base, *y = top + base, *s = scale + base;
    auto ratio = [&](int c) { return (double)(dy[c * hw] * y[c * hw] / s[c * hw]); };
    double acc = 0;
    for (int c = 0; c < min(half, C); ++c) acc += ratio(c);
    for (int c = 0; c < C; ++c) {
      if (c + half < C) acc += ratio(c + half);
      if (c - half - 1 >= 0) acc -= ratio(c - half - 1);
      const int64_t i = c * hw;
      bottom_diff[base + i] = dy[i] * pow_neg_beta(s[i], p.beta) - static_cast<float>(coeff * acc) * x[i];
    }
  }
}

// WITHIN_CHANNEL backward: one thread per element gathers its n×n window of top_diff · top / scale.
__global__ void within_backward_kernel(float* bottom_diff, const float* top_diff, const float* top,
                                       const float* scale, const float* bottom, LrnParams p, int64_t count) {
  LRCN_KERNEL_LOOP(index, count) {
    const int w = index % p.width, h = (index / p.width) % p.height, half = p.local_size / 2;
    const int64_t plane = index - (int64_t)h * p.width - w;
    const float *dy = top_diff + plane, *y = top + plane, *s = scale + plane;
    double acc = 0;
    for (int hh = max(h - half, 0); hh < min(h + half + 1, p.height); ++hh)
      for (int ww = max(w - half, 0); ww < min(w + half + 1, p.width); ++ww) {
        const int j = hh * p.width + ww;
        acc += (double)(dy[j] * y[j] / s[j]);
      }
    const double coeff = 2.0 * p.alpha * p.beta / ((double)p.local_size * p.local_size);
    bottom_diff[index] = top_diff[index] * pow_neg_beta(scale[index], p.beta) -
                         static_cast<float>(coeff * acc) * bottom[index];
  }
}
}  // namespace

void lrn_forward_gpu(float* top, float* scale, const float* bottom, const LrnParams& p, cudaStream_t stream) {
  const int64_t count = (int64_t)p.num * p.channels * p.height * p.width;
  if (count == 0) return;
  if (p.within_channel) {
    within_scale_kernel<<<blocks_for(count), kThreads, 0, stream>>>(scale, bottom, p, count);
  } else {
    const int64_t columns = (int64_t)p.num * p.height * p.width;
    across_scale_kernel<<<blocks_for(columns), kThreads, 0, stream>>>(scale, bottom, p, columns);
  }
  output_kernel<<<blocks_for(count), kThreads, 0, stream>>>(top, scale, bottom, p.beta, count);
}

void lrn_backward_gpu(float* bottom_diff, const float* top_diff, const float* top, const float* scale,
                      const float* bottom, const LrnParams& p, cudaStream_t stream) {
  const int64_t count = (int64_t)p.num * p.channels * p.height * p.width;
  if (count == 0) return;
  if (p.within_channel) {
    within_backward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(bottom_diff, top_diff, top, scale, bottom, p,
                                                                       count);
  } else {
    const int64_t columns = (int64_t)p.num * p.height * p.width;
    across_backward_kernel<<<blocks_for(columns), kThreads, 0, stream>>>(bottom_diff, top_diff, top, scale, bottom,
                                                                         p, columns);
  }
}
}  // namespace lrcn
