// What the recurrent layers (LSTM: G = 4H gate rows; RNN: G = H) share: the cont gate on a state, the
// ordered column sums, and the backward pass's all-timestep GEMMs. Sizes as in lstm.h.
#pragma once
#include <cstdint>

#include "common.h"

namespace lrcn {
// y (N × H) = s[n]·x (N × H) row by row: the cont gate on a state.
void recurrent_gate_rows_cpu(float* y, const float* x, const float* s, int N, int H);
void recurrent_gate_rows_gpu(float* y, const float* x, const float* s, int N, int H, cudaStream_t stream);
// y (C) = Σ_r X[r] over R rows of X (R × C), in row order; accumulate adds to y instead of overwriting.
void recurrent_colsum_cpu(float* y, const float* X, int64_t R, int64_t C, bool accumulate);
void recurrent_colsum_gpu(float* y, const float* X, int64_t R, int64_t C, bool accumulate, cudaStream_t stream);
// Everything that needs all timesteps' pre-activation diffs dz (T·N × G), each as one GEMM or reduction:
//   dW_x += dzᵀ·x,  db += Σ_rows dz,  dW_h += dzᵀ·hc,  dx = dz·W_x,
//   dz_sum = Σ_t dz_t (N × G),  dW_s += dz_sumᵀ·x_static,  dx_static = dz_sum·W_s.
// Null outputs are skipped. W_x is G × D, W_s G × S, hc T·N × H.
void recurrent_weight_backward_cpu(float* dx, float* dx_static, float* dW_x, float* db, float* dW_s, float* dW_h,
                                   float* dz_sum, const float* dz, const float* x, const float* x_static,
                                   const float* hc, const float* W_x, const float* W_s, int T, int N, int D, int S,
                                   int H, int G);
void recurrent_weight_backward_gpu(float* dx, float* dx_static, float* dW_x, float* db, float* dW_s, float* dW_h,
                                   float* dz_sum, const float* dz, const float* x, const float* x_static,
                                   const float* hc, const float* W_x, const float* W_s, int T, int N, int D, int S,
                                   int H, int G, cudaStream_t stream);
}  // namespace lrcn
