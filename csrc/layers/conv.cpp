#include "layers/conv.h"

#include <omp.h>

#include <algorithm>
#include <memory>

#include "gemm.h"

namespace lrcn {
namespace {
// Output columns wo whose input column w = wo·s − off (off = p − j·d) lies in [0, W): wo in [lo, hi).
inline void valid_range(int W, int Wo, int s, int off, int& lo, int& hi) {
  lo = off > 0 ? (off + s - 1) / s : 0;
  hi = W + off > 0 ? std::min(Wo, (W + off + s - 1) / s) : 0;
  lo = std::min(lo, hi);
}

// Frames run in parallel over the OpenMP threads, each lowering its own frame into its own columns and
// issuing single-threaded GEMMs. Measured on the shared 2-core machine (CaffeNet conv1..conv5, 16 frames,
// forward + backward, 6 interleaved runs): 0.53–1.2 s, against 1.6–5.1 s for one frame at a time with
// OpenBLAS threading each GEMM (its spinning threads stall whenever another process takes a core, and
// it was 3× slower still with OpenMP im2col between the GEMMs). Per core the GEMMs are as fast either
// way. Frames below ~1M multiply-adds are not worth waking a second thread for.
int parallel_frames(const ConvGeom& g) {
  const int64_t work = (int64_t)g.M * g.Kg() * g.HW();
  return work < (1 << 20) ? 1 : (int)std::min<int64_t>(omp_get_max_threads(), g.N);
}

// While alive (and `on`), OpenBLAS runs each GEMM on its calling thread: the frames' threads issue them.
struct SerialBlas {
  int saved = 0;
  explicit SerialBlas(bool on) {
    if (on) {
      saved = gemm_cpu_get_threads();
      gemm_cpu_set_threads(1);
    }
  }
  ~SerialBlas() {
    if (saved) gemm_cpu_set_threads(saved);
  }
};
}  // namespace

void im2col_cpu(float* col, const float* im, const ConvGeom& g) {
  const int64_t HW = g.HW();
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
          if (g.sw == 1)  // a contiguous copy
            std::copy(in + lo - off, in + hi - off, out + lo);
          else
            for (int wo = lo; wo < hi; ++wo) out[wo] = in[wo * g.sw - off];
          std::fill(out + hi, out + g.Wo, 0.f);
        }
      }
}

void col2im_cpu(float* im, const float* col, const ConvGeom& g) {
  const int64_t HW = g.HW();
  std::fill(im, im + (int64_t)g.C * g.H * g.W, 0.f);
  for (int c = 0; c < g.C; ++c) {
    float* plane = im + (int64_t)c * g.H * g.W;
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
          if (g.sw == 1)
            for (int wo = lo; wo < hi; ++wo) out[wo - off] += in[wo];
          else
            for (int wo = lo; wo < hi; ++wo) out[wo * g.sw - off] += in[wo];
        }
      }
  }
}

void conv_forward_cpu(float* top, const float* bottom, const float* weight, const float* bias, const ConvGeom& g) {
  const int Mg = g.Mg(), Kg = g.Kg(), HW = (int)g.HW(), P = parallel_frames(g);
  const int64_t col_count = g.col_rows() * HW;
  std::unique_ptr<float[]> cols(new float[P * col_count]);
  SerialBlas serial(P > 1);
#pragma omp parallel for num_threads(P) schedule(static)
  for (int n = 0; n < g.N; ++n) {
    float* col = cols.get() + omp_get_thread_num() * col_count;
    float* y = top + (int64_t)n * g.M * HW;
    im2col_cpu(col, bottom + (int64_t)n * g.C * g.H * g.W, g);
    for (int gr = 0; gr < g.group; ++gr)
      gemm_cpu(false, false, Mg, HW, Kg, 1.f, weight + (int64_t)gr * Mg * Kg, Kg, col + (int64_t)gr * Kg * HW, HW,
               0.f, y + (int64_t)gr * Mg * HW, HW);
    if (bias)
      for (int m = 0; m < g.M; ++m)
        for (int k = 0; k < HW; ++k) y[(int64_t)m * HW + k] += bias[m];
  }
}

void conv_backward_cpu(float* bottom_diff, float* weight_diff, float* bias_diff, const float* top_diff,
                       const float* bottom, const float* weight, const ConvGeom& g) {
  const int Mg = g.Mg(), Kg = g.Kg(), HW = (int)g.HW();
  if (bias_diff) {  // frame by frame, as Caffe: bias_diff[m] += Σ_k top_diff[n, m, k]
#pragma omp parallel for if ((int64_t)g.N * g.M * HW > 65536)
    for (int m = 0; m < g.M; ++m)
      for (int n = 0; n < g.N; ++n) {
        const float* dy = top_diff + ((int64_t)n * g.M + m) * HW;
        float s = 0.f;
        for (int k = 0; k < HW; ++k) s += dy[k];
        bias_diff[m] += s;
      }
  }
  if (!weight_diff && !bottom_diff) return;
  // Thread t > 0 sums its frames' weight diffs privately; they are added to weight_diff in thread order
  // at the end (static schedule: the result depends on the thread count only, not on timing).
  const int P = parallel_frames(g);
  const int64_t col_count = g.col_rows() * HW, w_count = (int64_t)g.M * Kg;
  std::unique_ptr<float[]> cols(new float[P * col_count]);
  std::unique_ptr<float[]> private_wd(weight_diff && P > 1 ? new float[(P - 1) * w_count]() : nullptr);
  {
    SerialBlas serial(P > 1);
#pragma omp parallel num_threads(P)
    {
      const int t = omp_get_thread_num();
      float* col = cols.get() + t * col_count;
      float* wd = t == 0 ? weight_diff : private_wd.get() + (t - 1) * w_count;
#pragma omp for schedule(static)
      for (int n = 0; n < g.N; ++n) {
        const float* dy = top_diff + (int64_t)n * g.M * HW;
        if (weight_diff) {
          im2col_cpu(col, bottom + (int64_t)n * g.C * g.H * g.W, g);
          for (int gr = 0; gr < g.group; ++gr)
            gemm_cpu(false, true, Mg, Kg, HW, 1.f, dy + (int64_t)gr * Mg * HW, HW, col + (int64_t)gr * Kg * HW, HW,
                     1.f, wd + (int64_t)gr * Mg * Kg, Kg);
        }
        if (bottom_diff) {
          for (int gr = 0; gr < g.group; ++gr)
            gemm_cpu(true, false, Kg, HW, Mg, 1.f, weight + (int64_t)gr * Mg * Kg, Kg, dy + (int64_t)gr * Mg * HW,
                     HW, 0.f, col + (int64_t)gr * Kg * HW, HW);
          col2im_cpu(bottom_diff + (int64_t)n * g.C * g.H * g.W, col, g);
        }
      }
    }
  }
  if (private_wd)
#pragma omp parallel for if (w_count > 65536)
    for (int64_t k = 0; k < w_count; ++k)
      for (int t = 1; t < P; ++t) weight_diff[k] += private_wd[(t - 1) * w_count + k];
}

}  // namespace lrcn
