#include "layers/pooling.h"

#include <algorithm>

namespace lrcn {
int pooling_output_size(int size, int kernel, int stride, int pad, bool ceil_mode) {
  const int span = size + 2 * pad - kernel;
  // ceil or floor of span / stride for either sign of span (C++ division truncates toward zero).
  const int up = span >= 0 ? (span + stride - 1) / stride : -(-span / stride);
  const int down = span >= 0 ? span / stride : -((-span + stride - 1) / stride);
  int pooled = (ceil_mode ? up : down) + 1;
  if (pad > 0 && (pooled - 1) * stride >= size + pad) --pooled;  // last window would start in the padding
  return pooled;
}

namespace {
// One N×C plane per OpenMP iteration; small problems stay on one thread.
inline bool worth_threads(const PoolGeometry& g) {
  return (int64_t)g.num * g.channels * g.height * g.width > 32768;
}

// One MAX window of plane x: rows [hstart, hend) × columns [wstart, wend), all in the image. The running
// maximum starts at the window's first cell, so a window of NaNs gives NaN (Caffe starts at −FLT_MAX;
// identical for finite inputs); a later cell replaces it only if strictly greater (first maximum wins).
inline void max_window(float* top, float* mask, const float* x, int W, int hstart, int hend, int wstart, int wend) {
  int best_i = hstart * W + wstart;
  float best = x[best_i];
  for (int h = hstart; h < hend; ++h)
    for (int w = wstart; w < wend; ++w) {
      const int i = h * W + w;
      const bool greater = x[i] > best;
      best = greater ? x[i] : best;
      best_i = greater ? i : best_i;
    }
  *top = best;
  *mask = static_cast<float>(best_i);
}

// MAX for the kLanes adjacent windows p0 .. p0 + kLanes − 1 of output row (hstart, hend), all lying inside
// the image horizontally. One window's running maximum is a serial chain of compares, so the windows go
// side by side in a GCC/Clang vector (lane j = window p0 + j), visiting the cells in max_window's order.
// A compile-time stride (1, or 2 as in every CaffeNet/LRCN pooling) makes the strided loads permutes;
// kStride 0 reads g.stride_w.
typedef float f32x8 __attribute__((vector_size(32)));
typedef float f32x4 __attribute__((vector_size(16)));

template <typename vec, int kStride>
inline void max_windows(float* top, float* mask, const float* x, const PoolGeometry& g, int hstart, int hend,
                        int p0) {
  constexpr int kLanes = sizeof(vec) / sizeof(float);
  const int sw = kStride ? kStride : g.stride_w, first = hstart * g.width + p0 * sw - g.pad_w;
  vec lane, best;  // lane j: the offset of window p0 + j from window p0
  for (int j = 0; j < kLanes; ++j) {
    lane[j] = static_cast<float>(j * sw);
    best[j] = x[first + j * sw];
  }
  vec best_i = static_cast<float>(first) + lane;
  for (int h = hstart; h < hend; ++h)
    for (int kw = 0; kw < g.kernel_w; ++kw) {
      const int cell = h * g.width + p0 * sw - g.pad_w + kw;  // this cell of window p0
      vec v;
      for (int j = 0; j < kLanes; ++j) v[j] = x[cell + j * sw];
      const auto greater = v > best;
      best_i = greater ? static_cast<float>(cell) + lane : best_i;
      best = greater ? v : best;
    }
  for (int j = 0; j < kLanes; ++j) {
    top[p0 + j] = best[j];
    mask[p0 + j] = best_i[j];
  }
}

// MAX over one plane: top, mask PH×PW (indices as floats, exact below 2^24); x H×W. Windows pw in
// [lo, hi) lie inside the image horizontally and go 8, then 4 at a time; the rest one by one.
template <int kStride>
void max_forward_plane(float* top, float* mask, const float* x, const PoolGeometry& g, int lo, int hi) {
  for (int ph = 0; ph < g.pooled_h; ++ph) {
    const int h0 = ph * g.stride_h - g.pad_h;
    const int hstart = std::max(h0, 0), hend = std::min(h0 + g.kernel_h, g.height);
    float* t = top + ph * g.pooled_w;
    float* m = mask + ph * g.pooled_w;
    int pw = lo;
    for (; pw + 8 <= hi; pw += 8) max_windows<f32x8, kStride>(t, m, x, g, hstart, hend, pw);
    for (; pw + 4 <= hi; pw += 4) max_windows<f32x4, kStride>(t, m, x, g, hstart, hend, pw);
    auto one = [&](int pw) {
      const int w0 = pw * g.stride_w - g.pad_w;
      max_window(t + pw, m + pw, x, g.width, hstart, hend, std::max(w0, 0), std::min(w0 + g.kernel_w, g.width));
    };
    for (int p = 0; p < std::min(lo, g.pooled_w); ++p) one(p);
    for (; pw < g.pooled_w; ++pw) one(pw);
  }
}

void ave_forward_plane(float* top, const float* x, const PoolGeometry& g) {
  for (int ph = 0; ph < g.pooled_h; ++ph)
    for (int pw = 0; pw < g.pooled_w; ++pw) {
      const PoolWindow p = pool_window(g, ph, pw);
      float sum = 0.f;
      for (int h = p.hstart; h < p.hend; ++h)
        for (int w = p.wstart; w < p.wend; ++w) sum += x[h * g.width + w];
      top[ph * g.pooled_w + pw] = sum / p.area;
    }
}

void ave_backward_plane(float* dx, const float* dy, const PoolGeometry& g) {
  std::fill(dx, dx + (int64_t)g.height * g.width, 0.f);
  for (int ph = 0; ph < g.pooled_h; ++ph)
    for (int pw = 0; pw < g.pooled_w; ++pw) {
      const PoolWindow p = pool_window(g, ph, pw);
      const float share = dy[ph * g.pooled_w + pw] / p.area;
      for (int h = p.hstart; h < p.hend; ++h)
        for (int w = p.wstart; w < p.wend; ++w) dx[h * g.width + w] += share;
    }
}
}  // namespace

void pooling_forward_cpu(float* top, float* mask, const float* bottom, const PoolGeometry& g, PoolMethod method) {
  const int64_t planes = (int64_t)g.num * g.channels, in = (int64_t)g.height * g.width,
                out = (int64_t)g.pooled_h * g.pooled_w;
  // Windows pw in [lo, hi) start at or after column 0 and end at or before column W.
  const int lo = (g.pad_w + g.stride_w - 1) / g.stride_w;
  const int last = g.width + g.pad_w - g.kernel_w;
  const int hi = last < 0 ? lo : std::max(lo, std::min(g.pooled_w, last / g.stride_w + 1));
  auto max_plane = g.stride_w == 1 ? max_forward_plane<1> : g.stride_w == 2 ? max_forward_plane<2> : max_forward_plane<0>;
#pragma omp parallel for if (worth_threads(g))
  for (int64_t p = 0; p < planes; ++p) {
    if (method == PoolMethod::kMax) max_plane(top + p * out, mask + p * out, bottom + p * in, g, lo, hi);
    else ave_forward_plane(top + p * out, bottom + p * in, g);
  }
}

void pooling_backward_cpu(float* bottom_diff, const float* top_diff, const float* mask, const PoolGeometry& g,
                          PoolMethod method) {
  const int64_t planes = (int64_t)g.num * g.channels, in = (int64_t)g.height * g.width,
                out = (int64_t)g.pooled_h * g.pooled_w;
#pragma omp parallel for if (worth_threads(g))
  for (int64_t p = 0; p < planes; ++p) {
    float* dx = bottom_diff + p * in;
    const float* dy = top_diff + p * out;
    if (method == PoolMethod::kAve) {
      ave_backward_plane(dx, dy, g);
      continue;
    }
    const float* m = mask + p * out;
    std::fill(dx, dx + in, 0.f);
    for (int64_t i = 0; i < out; ++i) dx[static_cast<int64_t>(m[i])] += dy[i];
  }
}
}  // namespace lrcn
