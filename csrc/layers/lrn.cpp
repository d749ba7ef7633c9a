#include "layers/lrn.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace lrcn {
namespace {
// s^−β. β = 0.75 (every LRN of CaffeNet and LRCN) as 1 / (√s · √√s), which vectorises (the build uses
// -fno-math-errno); any other β through std::pow.
template <bool kBeta075>
inline float pow_neg_beta(float s, float beta) {
  if (kBeta075) {
    const float r = std::sqrt(s);
    return 1.f / (r * std::sqrt(r));
  }
  return std::pow(s, -beta);
}

inline bool worth_threads(const LrnParams& p) {
  return (int64_t)p.num * p.channels * p.height * p.width > 32768;
}

// ACROSS_CHANNELS: each image's H·W positions are cut into tiles of kTile; for a tile, the window sum
// over channels slides from c to c + 1 by adding channel c + n/2 and removing channel c − n/2 − 1, so
// the channel stripes it touches stay in L1 and each element costs O(1) whatever n is.
constexpr int64_t kTile = 256;

// acc[i] += sign · v(i) for the tile.
template <typename V>
inline void accumulate(double* acc, int64_t len, double sign, V v) {
#pragma omp simd
  for (int64_t i = 0; i < len; ++i) acc[i] += sign * v(i);
}

template <bool kBeta075>
void across_forward(float* top, float* scale, const float* bottom, const LrnParams& p) {
  const int C = p.channels, half = p.local_size / 2;
  const int64_t hw = (int64_t)p.height * p.width, tiles = (hw + kTile - 1) / kTile;
  const double alpha_over_n = (double)p.alpha / p.local_size;
#pragma omp parallel for collapse(2) if (worth_threads(p))
  for (int n = 0; n < p.num; ++n)
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t base = (int64_t)n * C * hw + t * kTile, len = std::min(kTile, hw - t * kTile);
      double acc[kTile] = {};  // Σ x² over the window of channel c, for the tile's positions
      auto square = [&](int c) { return [x = bottom + base + c * hw](int64_t i) { return (double)x[i] * x[i]; }; };
      for (int c = 0; c < std::min(half, C); ++c) accumulate(acc, len, 1.0, square(c));
      for (int c = 0; c < C; ++c) {
        if (c + half < C) accumulate(acc, len, 1.0, square(c + half));
        if (c - half - 1 >= 0) accumulate(acc, len, -1.0, square(c - half - 1));
        const float* x = bottom + base + c * hw;
        float* s = scale + base + c * hw;
        float* y = top + base + c * hw;
#pragma omp simd
        for (int64_t i = 0; i < len; ++i) {
          s[i] = static_cast<float>(p.k + alpha_over_n * acc[i]);
          y[i] = x[i] * pow_neg_beta<kBeta075>(s[i], p.beta);
        }
      }
    }
}

template <bool kBeta075>
void across_backward(float* bottom_diff, const float* top_diff, const float* top, const float* scale,
                     const float* bottom, const LrnParams& p) {
  const int C = p.channels, half = p.local_size / 2;
  const int64_t hw = (int64_t)p.height * p.width, tiles = (hw + kTile - 1) / kTile;
  const double coeff = 2.0 * p.alpha * p.beta / p.local_size;
#pragma omp parallel for collapse(2) if (worth_threads(p))
  for (int n = 0; n < p.num; ++n)
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t base = (int64_t)n * C * hw + t * kTile, len = std::min(kTile, hw - t * kTile);
      double acc[kTile] = {};  // Σ top_diff · top / scale over the window of channel c
      auto ratio = [&](int c) {
        const int64_t o = base + c * hw;
        return [dy = top_diff + o, y = top + o, s = scale + o](int64_t i) { return (double)(dy[i] * y[i] / s[i]); };
      };
      for (int c = 0; c < std::min(half, C); ++c) accumulate(acc, len, 1.0, ratio(c));
      for (int c = 0; c < C; ++c) {
        if (c + half < C) accumulate(acc, len, 1.0, ratio(c + half));
        if (c - half - 1 >= 0) accumulate(acc, len, -1.0, ratio(c - half - 1));
        const int64_t o = base + c * hw;
        const float *x = bottom + o, *dy = top_diff + o, *s = scale + o;
        float* dx = bottom_diff + o;
#pragma omp simd
        for (int64_t i = 0; i < len; ++i)
          dx[i] = dy[i] * pow_neg_beta<kBeta075>(s[i], p.beta) - static_cast<float>(coeff * acc[i]) * x[i];
      }
    }
}

// WITHIN_CHANNEL: out = the n×n box sum of v over an H×W plane, zero padded; separable (rows, then
// columns), O(n) per element. rows: H×W scratch.
void box_sum(double* out, double* rows, const double* v, int H, int W, int half) {
  std::fill(rows, rows + (int64_t)H * W, 0.0);
  std::fill(out, out + (int64_t)H * W, 0.0);
  for (int h = 0; h < H; ++h)
    for (int d = -half; d <= half; ++d)
      for (int w = std::max(0, -d); w < std::min(W, W - d); ++w) rows[h * W + w] += v[h * W + w + d];
  for (int h = 0; h < H; ++h)
    for (int d = std::max(-half, -h); d <= std::min(half, H - 1 - h); ++d)
      for (int w = 0; w < W; ++w) out[h * W + w] += rows[(h + d) * W + w];
}

template <bool kBeta075>
void within_forward(float* top, float* scale, const float* bottom, const LrnParams& p) {
  const int64_t hw = (int64_t)p.height * p.width, planes = (int64_t)p.num * p.channels;
  const double alpha_over_m = (double)p.alpha / ((double)p.local_size * p.local_size);
#pragma omp parallel if (worth_threads(p))
  {
    std::vector<double> v(hw), rows(hw), sum(hw);
#pragma omp for
    for (int64_t plane = 0; plane < planes; ++plane) {
      const float* x = bottom + plane * hw;
      float* s = scale + plane * hw;
      float* y = top + plane * hw;
      for (int64_t i = 0; i < hw; ++i) v[i] = (double)x[i] * x[i];
      box_sum(sum.data(), rows.data(), v.data(), p.height, p.width, p.local_size / 2);
      for (int64_t i = 0; i < hw; ++i) {
        s[i] = static_cast<float>(1.0 + alpha_over_m * sum[i]);
        y[i] = x[i] * pow_neg_beta<kBeta075>(s[i], p.beta);
      }
    }
  }
}

template <bool kBeta075>
void within_backward(float* bottom_diff, const float* top_diff, const float* top, const float* scale,
                     const float* bottom, const LrnParams& p) {
  const int64_t hw = (int64_t)p.height * p.width, planes = (int64_t)p.num * p.channels;
  const double coeff = 2.0 * p.alpha * p.beta / ((double)p.local_size * p.local_size);
#pragma omp parallel if (worth_threads(p))
  {
    std::vector<double> v(hw), rows(hw), sum(hw);
#pragma omp for
    for (int64_t plane = 0; plane < planes; ++plane) {
      const int64_t o = plane * hw;
      const float *x = bottom + o, *dy = top_diff + o, *y = top + o, *s = scale + o;
      float* dx = bottom_diff + o;
      for (int64_t i = 0; i < hw; ++i) v[i] = (double)(dy[i] * y[i] / s[i]);
      box_sum(sum.data(), rows.data(), v.data(), p.height, p.width, p.local_size / 2);
      for (int64_t i = 0; i < hw; ++i)
        dx[i] = dy[i] * pow_neg_beta<kBeta075>(s[i], p.beta) - static_cast<float>(coeff * sum[i]) * x[i];
    }
  }
}
}  // namespace

void lrn_forward_cpu(float* top, float* scale, const float* bottom, const LrnParams& p) {
  const bool b075 = p.beta == 0.75f;
  if (p.within_channel) (b075 ? within_forward<true> : within_forward<false>)(top, scale, bottom, p);
  else (b075 ? across_forward<true> : across_forward<false>)(top, scale, bottom, p);
}

void lrn_backward_cpu(float* bottom_diff, const float* top_diff, const float* top, const float* scale,
                      const float* bottom, const LrnParams& p) {
  const bool b075 = p.beta == 0.75f;
  if (p.within_channel)
    (b075 ? within_backward<true> : within_backward<false>)(bottom_diff, top_diff, top, scale, bottom, p);
  else (b075 ? across_backward<true> : across_backward<false>)(bottom_diff, top_diff, top, scale, bottom, p);
}
}  // namespace lrcn
