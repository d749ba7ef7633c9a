// Convolution (Caffe's, 2-D spatial, with groups, padding, stride and dilation) as im2col + GEMM.
//
//   bottom N×C×H×W, weight M×(C/G)×kh×kw, bias M, top N×M×Ho×Wo,
//   Ho = (H + 2·ph − (dh·(kh−1)+1)) / sh + 1 (likewise Wo),
//   top[n, m, ho, wo] = bias[m] + Σ_{c in m's group, i, j} weight[m, c, i, j] ·
//                                   bottom[n, c, ho·sh − ph + i·dh, wo·sw − pw + j·dw],
// with bottom read as 0 outside the image.
//
// The lowering: the columns of one image are col (C·kh·kw) × (Ho·Wo), row (c·kh + i)·kw + j holding the
// input pixels that weight tap (c, i, j) meets at each output position. Per group g (Mg = M/G outputs,
// Kg = C/G·kh·kw rows of col): top[n, g] (Mg × HoWo) = W_g (Mg × Kg) · col_g (Kg × HoWo).
// Backward: weight_diff_g += top_diff[n, g] · col_gᵀ, bias_diff[m] += Σ top_diff[n, m, :],
// col_g = W_gᵀ · top_diff[n, g] then col2im adds every column entry back onto its pixel.
#pragma once
#include "common.h"

namespace lrcn {

struct ConvGeom {
  int N, C, H, W;              // bottom
  int M, group;                // num_output, groups (C and M divisible by group)
  int kh, kw, ph, pw, sh, sw, dh, dw;
  int Ho, Wo;                  // top spatial size (from the formula above; the binding checks it)
  int Mg() const { return M / group; }
  int Kg() const { return C / group * kh * kw; }
  int64_t HW() const { return (int64_t)Ho * Wo; }
  int64_t col_rows() const { return (int64_t)C * kh * kw; }
};

// One image: col (C·kh·kw × Ho·Wo) from im (C×H×W), and back: im = Σ of the column entries that
// read each pixel (im is overwritten; entries are added in row order, i.e. c, i, j ascending).
void im2col_cpu(float* col, const float* im, const ConvGeom& g);
void col2im_cpu(float* im, const float* col, const ConvGeom& g);

// bias may be null (bias_term: false). Frames run in parallel on the OpenMP threads, each with its own
// columns (allocated here) and single-threaded GEMMs.
void conv_forward_cpu(float* top, const float* bottom, const float* weight, const float* bias, const ConvGeom& g);
// Null outputs are skipped. weight_diff and bias_diff accumulate (+=); bottom_diff is overwritten.
void conv_backward_cpu(float* bottom_diff, float* weight_diff, float* bias_diff, const float* top_diff,
                       const float* bottom, const float* weight, const ConvGeom& g);

// GPU: F frames are lowered side by side (one GEMM per group with F·Ho·Wo columns); the caller's scratch
// holds F frames' columns and channel-major outputs, F·conv_gpu_scratch_per_frame(g) floats, so it
// bounds the memory used.
inline int64_t conv_gpu_scratch_per_frame(const ConvGeom& g) { return (g.col_rows() + g.M) * g.HW(); }
// Frames per chunk: as many as the scratch holds, rounded down (when it holds enough) to a multiple of
// 4 / gcd(Ho·Wo, 4), so that a chunk's L = F·Ho·Wo columns are a multiple of 4: the rows of the GEMMs'
// col and out operands then start 16-byte aligned and the GEMM takes its float4 paths (CaffeNet conv1 and
// the hybrid's have odd Ho·Wo, 55² and 111²: F becomes a multiple of 4).
inline int conv_gpu_chunk_frames(const ConvGeom& g, int64_t scratch_count) {
  int64_t f = scratch_count / conv_gpu_scratch_per_frame(g);
  f = f < g.N ? f : g.N;
  const int64_t hw = g.HW(), q = hw % 4 == 0 ? 1 : hw % 2 == 0 ? 2 : 4;
  return (int)(f >= q ? f - f % q : f);
}
void conv_forward_gpu(float* top, const float* bottom, const float* weight, const float* bias, float* scratch,
                      int64_t scratch_count, const ConvGeom& g, cudaStream_t stream);
void conv_backward_gpu(float* bottom_diff, float* weight_diff, float* bias_diff, const float* top_diff,
                       const float* bottom, const float* weight, float* scratch, int64_t scratch_count,
                       const ConvGeom& g, cudaStream_t stream);

}  // namespace lrcn
