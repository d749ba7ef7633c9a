#include "layers/conv.h"

#include <algorithm>

#include "gemm.h"

namespace lrcn {
namespace {
// Output columns wo whose input column w = wo·s − off (off = p − j·d) lies in [0, W): wo in [lo, hi).
inline void valid_range(int W, int Wo, int s, int off, int& lo, int& hi) {
  lo = off > 0 ? (off + s - 1) / s : 0;
  hi = W + off > 0 ? std::min(Wo, (W + off + s - 1) / s) : 0;
  lo = std::min(lo, hi);
}
}  // namespace

void im2col_cpu(float* col, const float* im, const ConvGeom& g) {
  const int64_t HW = g.HW();
#pragma omp parallel for collapse(3) if (g.col_rows() * HW > 65536)
  for (int c = 0; c < g.C; ++c)
    for (int i = 0; i < g.kh; ++i)
      for (int j = 0; j < g.kw; ++j) {
        float* row = col + ((int64_t)(c * g.kh + i) * g.kw + j) * HW;
        const float* plane = im + (int64_t)c * g.H * g.W;
        const int off = g.pw - j * g.dw;
        int lo, hi;
        valid_range(g.W, g.Wo, g.sw, off, lo, hi);
        for (int ho = 0; ho < g.Ho; ++ho) {
          float* out = row + (int64_t)ho * g.Wo;
          const int h = ho * g.sh - g.ph + i * g.dh;
          if (h < 0 || h >= g.H) {
            std::fill(out, out + g.Wo, 0.f);
            continue;
          }
          const float* in = plane + (int64_t)h * g.W;
          std::fill(out, out + lo, 0.f);
          for (int wo = lo; wo < hi; ++wo) out[wo] = in[wo * g.sw - off];
          std::fill(out + hi, out + g.Wo, 0.f);
        }
      }
}

void col2im_cpu(float* im, const float* col, const ConvGeom& g) {
  const int64_t HW = g.HW();
  // Channels are independent (rows of one channel all land in its plane): parallel over c.
#pragma omp parallel for if (g.col_rows() * HW > 65536)
  for (int c = 0; c < g.C; ++c) {
    float* plane = im + (int64_t)c * g.H * g.W;
    std::fill(plane, plane + (int64_t)g.H * g.W, 0.f);
    for (int i = 0; i < g.kh; ++i)
      for (int j = 0; j < g.kw; ++j) {
        const float* row = col + ((int64_t)(c * g.kh + i) * g.kw + j) * HW;
        const int off = g.pw - j * g.dw;
        int lo, hi;
        valid_range(g.W, g.Wo, g.sw, off, lo, hi);
        for (int ho = 0; ho < g.Ho; ++ho) {
          const int h = ho * g.sh - g.ph + i * g.dh;
          if (h < 0 || h >= g.H) continue;
          const float* in = row + (int64_t)ho * g.Wo;
          float* out = plane + (int64_t)h * g.W;
          for (int wo = lo; wo < hi; ++wo) out[wo * g.sw - off] += in[wo];
        }
      }
  }
}

// One image at a time, OpenBLAS using both cores inside each GEMM (see the note in conv_backward_cpu).
void conv_forward_cpu(float* top, const float* bottom, const float* weight, const float* bias, float* scratch,
                      const ConvGeom& g) {
  const int Mg = g.Mg(), Kg = g.Kg(), HW = (int)g.HW();
  for (int n = 0; n < g.N; ++n) {
    float* y = top + (int64_t)n * g.M * HW;
    im2col_cpu(scratch, bottom + (int64_t)n * g.C * g.H * g.W, g);
    for (int gr = 0; gr < g.group; ++gr)
      gemm_cpu(false, false, Mg, HW, Kg, 1.f, weight + (int64_t)gr * Mg * Kg, Kg, scratch + (int64_t)gr * Kg * HW,
               HW, 0.f, y + (int64_t)gr * Mg * HW, HW);
    if (bias)
      for (int m = 0; m < g.M; ++m)
        for (int k = 0; k < HW; ++k) y[(int64_t)m * HW + k] += bias[m];
  }
}

void conv_backward_cpu(float* bottom_diff, float* weight_diff, float* bias_diff, const float* top_diff,
                       const float* bottom, const float* weight, float* scratch, const ConvGeom& g) {
  const int Mg = g.Mg(), Kg = g.Kg(), HW = (int)g.HW();
  for (int n = 0; n < g.N; ++n) {
    const float* dy = top_diff + (int64_t)n * g.M * HW;
    if (bias_diff)
      for (int m = 0; m < g.M; ++m) {
        float s = 0.f;
        for (int k = 0; k < HW; ++k) s += dy[(int64_t)m * HW + k];
        bias_diff[m] += s;
      }
    if (weight_diff) {
      im2col_cpu(scratch, bottom + (int64_t)n * g.C * g.H * g.W, g);
      for (int gr = 0; gr < g.group; ++gr)
        gemm_cpu(false, true, Mg, Kg, HW, 1.f, dy + (int64_t)gr * Mg * HW, HW, scratch + (int64_t)gr * Kg * HW, HW,
                 1.f, weight_diff + (int64_t)gr * Mg * Kg, Kg);
    }
    if (bottom_diff) {
      for (int gr = 0; gr < g.group; ++gr)
        gemm_cpu(true, false, Kg, HW, Mg, 1.f, weight + (int64_t)gr * Mg * Kg, Kg, dy + (int64_t)gr * Mg * HW, HW,
                 0.f, scratch + (int64_t)gr * Kg * HW, HW);
      col2im_cpu(bottom_diff + (int64_t)n * g.C * g.H * g.W, scratch, g);
    }
  }
}

}  // namespace lrcn
