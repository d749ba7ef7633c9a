// GPU convolution: F frames are lowered side by side, col (C·kh·kw) × (F·Ho·Wo), so each group is one
// GEMM with F·Ho·Wo columns (one frame of conv3 alone is a 384×169×2304 GEMM: too few tiles for the
// GPU). The GEMM's output is channel-major, M × (F·Ho·Wo); a second kernel moves it into the
// frame-major top, adding the bias exactly as the CPU does (after the GEMM). Per output, the GEMM sums
// over the same Kg terms as the CPU; col2im adds the taps of each pixel in the CPU's order.
#include "layers/conv.h"

#include "gemm.h"

namespace lrcn {
namespace {
// col[(c·kh + i)·kw + j][f·HW + ho·Wo + wo] = im[f, c, ho·sh − ph + i·dh, wo·sw − pw + j·dw] (0 outside),
// for F frames of im (F×C×H×W). One thread per (c, f, ho, wo), looping over the kh·kw taps.
__global__ void im2col_kernel(float* col, const float* im, ConvGeom g, int F) {
  const int64_t HW = (int64_t)g.Ho * g.Wo, L = F * HW;
  LRCN_KERNEL_LOOP(idx, g.C * L) {
    const int c = (int)(idx / L);
    const int64_t p = idx % L;
    const int f = (int)(p / HW), ho = (int)(p % HW) / g.Wo, wo = (int)(p % HW) % g.Wo;
    const float* plane = im + ((int64_t)f * g.C + c) * g.H * g.W;
    float* out = col + (int64_t)c * g.kh * g.kw * L + p;
    for (int i = 0; i < g.kh; ++i) {
      const int h = ho * g.sh - g.ph + i * g.dh;
      for (int j = 0; j < g.kw; ++j, out += L) {
        const int w = wo * g.sw - g.pw + j * g.dw;
        *out = (h >= 0 && h < g.H && w >= 0 && w < g.W) ? plane[(int64_t)h * g.W + w] : 0.f;
      }
    }
  }
}

// im[f, c, h, w] = Σ over the taps (i, j) ascending that read pixel (h, w) of their column entry: a
// gather, one thread per pixel of the F frames (no atomics; the CPU's scatter adds in the same order).
__global__ void col2im_kernel(float* im, const float* col, ConvGeom g, int F) {
  const int64_t HW = (int64_t)g.Ho * g.Wo, L = F * HW, plane = (int64_t)g.H * g.W;
  LRCN_KERNEL_LOOP(idx, F * g.C * plane) {
    const int w = (int)(idx % g.W), h = (int)(idx / g.W % g.H);
    const int c = (int)(idx / plane % g.C), f = (int)(idx / (plane * g.C));
    float s = 0.f;
    for (int i = 0; i < g.kh; ++i) {
      const int hs = h + g.ph - i * g.dh;  // = ho·sh
      if (hs < 0 || hs % g.sh || hs / g.sh >= g.Ho) continue;
      for (int j = 0; j < g.kw; ++j) {
        const int ws = w + g.pw - j * g.dw;  // = wo·sw
        if (ws < 0 || ws % g.sw || ws / g.sw >= g.Wo) continue;
        s += col[((int64_t)(c * g.kh + i) * g.kw + j) * L + f * HW + (int64_t)(hs / g.sh) * g.Wo + ws / g.sw];
      }
    }
    im[idx] = s;
  }
}

// top[f, m, k] = out[m, f·HW + k] (+ bias[m]) for F frames; out is the GEMM's M × (F·HW).
__global__ void unpack_kernel(float* top, const float* out, const float* bias, int M, int64_t HW, int F) {
  LRCN_KERNEL_LOOP(idx, F * M * HW) {
    const int64_t k = idx % HW;
    const int m = (int)(idx / HW % M), f = (int)(idx / (HW * M));
    const float y = out[m * F * HW + f * HW + k];
    top[idx] = bias ? y + bias[m] : y;
  }
}

// out[m, f·HW + k] = top_diff[f, m, k]: the inverse of unpack.
__global__ void pack_kernel(float* out, const float* top_diff, int M, int64_t HW, int F) {
  LRCN_KERNEL_LOOP(idx, F * M * HW) {
    const int64_t k = idx % HW;
    const int m = (int)(idx / HW % M), f = (int)(idx / (HW * M));
    out[m * F * HW + f * HW + k] = top_diff[idx];
  }
}

// bias_diff[m] += Σ_{n, k} top_diff[n, m, k]: one block per m, a strided sum per thread, then a tree.
__global__ void bias_diff_kernel(float* bias_diff, const float* top_diff, int N, int M, int64_t HW) {
  __shared__ float part[kThreads];
  const int m = blockIdx.x;
  float s = 0.f;
  for (int64_t e = threadIdx.x; e < N * HW; e += blockDim.x) s += top_diff[(e / HW * M + m) * HW + e % HW];
  part[threadIdx.x] = s;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) part[threadIdx.x] += part[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) bias_diff[m] += part[0];
}

}  // namespace

void conv_forward_gpu(float* top, const float* bottom, const float* weight, const float* bias, float* scratch,
                      int64_t scratch_count, const ConvGeom& g, cudaStream_t stream) {
  const int Mg = g.Mg(), Kg = g.Kg(), F = conv_gpu_chunk_frames(g, scratch_count);
  const int64_t HW = g.HW();
  float* col = scratch;                        // (C·kh·kw) × (nb·HW)
  float* out = scratch + g.col_rows() * F * HW;  // M × (nb·HW)
  for (int n0 = 0; n0 < g.N; n0 += F) {
    const int nb = g.N - n0 < F ? g.N - n0 : F, L = (int)(nb * HW);
    im2col_kernel<<<blocks_for(g.C * (int64_t)L), kThreads, 0, stream>>>(col, bottom + (int64_t)n0 * g.C * g.H * g.W,
                                                                          g, nb);
    for (int gr = 0; gr < g.group; ++gr)
      gemm_gpu(false, false, Mg, L, Kg, 1.f, weight + (int64_t)gr * Mg * Kg, Kg, col + (int64_t)gr * Kg * L, L, 0.f,
               out + (int64_t)gr * Mg * L, L, stream);
    unpack_kernel<<<blocks_for((int64_t)g.M * L), kThreads, 0, stream>>>(top + (int64_t)n0 * g.M * HW, out, bias,
                                                                          g.M, HW, nb);
  }
}

void conv_backward_gpu(float* bottom_diff, float* weight_diff, float* bias_diff, const float* top_diff,
                       const float* bottom, const float* weight, float* scratch, int64_t scratch_count,
                       const ConvGeom& g, cudaStream_t stream) {
  const int Mg = g.Mg(), Kg = g.Kg(), F = conv_gpu_chunk_frames(g, scratch_count);
  const int64_t HW = g.HW();
  if (bias_diff && g.N > 0) bias_diff_kernel<<<g.M, kThreads, 0, stream>>>(bias_diff, top_diff, g.N, g.M, HW);
  if (!weight_diff && !bottom_diff) return;
  float* col = scratch;
  float* dout = scratch + g.col_rows() * F * HW;  // top_diff of the chunk, channel-major M × (nb·HW)
  for (int n0 = 0; n0 < g.N; n0 += F) {
    const int nb = g.N - n0 < F ? g.N - n0 : F, L = (int)(nb * HW);
    pack_kernel<<<blocks_for((int64_t)g.M * L), kThreads, 0, stream>>>(dout, top_diff + (int64_t)n0 * g.M * HW, g.M,
                                                                        HW, nb);
    if (weight_diff) {
      im2col_kernel<<<blocks_for(g.C * (int64_t)L), kThreads, 0, stream>>>(
          col, bottom + (int64_t)n0 * g.C * g.H * g.W, g, nb);
      for (int gr = 0; gr < g.group; ++gr)
        gemm_gpu(false, true, Mg, Kg, L, 1.f, dout + (int64_t)gr * Mg * L, L, col + (int64_t)gr * Kg * L, L, 1.f,
                 weight_diff + (int64_t)gr * Mg * Kg, Kg, stream);
    }
    if (bottom_diff) {
      for (int gr = 0; gr < g.group; ++gr)
        gemm_gpu(true, false, Kg, L, Mg, 1.f, weight + (int64_t)gr * Mg * Kg, Kg, dout + (int64_t)gr * Mg * L, L,
                 0.f, col + (int64_t)gr * Kg * L, L, stream);
      col2im_kernel<<<blocks_for((int64_t)nb * g.C * g.H * g.W), kThreads, 0, stream>>>(
          bottom_diff + (int64_t)n0 * g.C * g.H * g.W, col, g, nb);
    }
  }
}

}  // namespace lrcn
