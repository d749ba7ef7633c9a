// Caffe's LSTM layer over a whole sequence in one call, its standalone LSTMUnit layer, and the pieces the
// recurrent layers (LSTM, RNN) share.
//
// Sizes: T timesteps, N streams, D input size (x's trailing axes flattened), S static input size (0: no
// static input), H = num_output, G = 4H gate rows in Caffe's order i, f, o, g. All arrays row-major.
// Step t (CAFFE_FACTS.md §2):
//   z_t = W_xc·x_t + b_c + W_xc_static·x_static + W_hc·hc_t,    hc_t = cont_t·h_{t−1}
//   i, f, o = σ(z_i, z_f, z_o);  g = tanh(z_g);  f' = cont_t·f (exactly 0 where cont_t = 0)
//   c_t = f'·c_{t−1} + i·g;  h_t = o·tanh(c_t)
// σ(z) = 1/(1 + e^−z) and tanh(z) = 2σ(2z) − 1, the formulas of Caffe's LSTMUnit. No clipping anywhere.
// Forward: one GEMM for W_xc·x over all T·N rows, one for the static input, then per step a recurrent
// GEMM (M=N, N=G, K=H) and one fused gate/cell pass. Backward runs the steps in reverse (one GEMM each,
// dz_t·W_hc) and then forms every weight and input gradient with one GEMM over all timesteps.
#pragma once
#include <cmath>
#include <cstring>

#include "common.h"


namespace lrcn {

// ---- the cell, shared by the CPU loops and the CUDA kernels -----------------------------------------
// e^x. On the GPU, CUDA's expf. On the CPU, 2^n·e^r with n = round(x·log2 e) and r = x − n·ln 2 (ln 2 in
// two parts), e^r by Cephes' expf polynomial: within 1.4 ulp of the exact value, and written with
// arithmetic and bit casts only, so that the compiler vectorizes the loops that call it (glibc's expf
// is a call per element, ~9× slower here). x is clamped to [−87.3, 88.3], where 2^n stays a normal float.
LRCN_HD inline float lstm_exp(float x) {
#ifdef __CUDA_ARCH__
  return expf(x);
#else
  x = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
  const float shifted = x * 1.44269504088896341f + 12582912.f;  // + 1.5·2^23: n lands in the low bits
  const float n = shifted - 12582912.f;
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof bits);
  bits = (bits - 0x4B400000 + 127) << 23;  // the float 2^n
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
#endif
}
LRCN_HD inline float lstm_sigmoid(float z) { return 1.f / (1.f + lstm_exp(-z)); }
LRCN_HD inline float lstm_tanh(float z) { return 2.f * lstm_sigmoid(2.f * z) - 1.f; }

// From the activations of one element (stream, unit): the cell and hidden values.
LRCN_HD inline void lstm_cell_forward(float i, float f, float o, float g, float cont, float c_prev, float* c,
                                      float* h) {
  const float fc = cont == 0.f ? 0.f : cont * f;
  *c = fc * c_prev + i * g;
  *h = o * lstm_tanh(*c);
}

// The derivatives of one element: dh and dc are the total gradients w.r.t. h_t and c_t from above;
// returns the pre-activation gradients and dc_prev (w.r.t. c_{t−1}). f is σ(z_f) before the cont gate.
LRCN_HD inline void lstm_cell_backward(float i, float f, float o, float g, float cont, float c_prev, float c,
                                       float dh, float dc, float* dzi, float* dzf, float* dzo, float* dzg,
                                       float* dc_prev) {
  const float tc = lstm_tanh(c);
  const float dct = dc + dh * o * (1.f - tc * tc);
  const float fc = cont == 0.f ? 0.f : cont * f;
  *dzi = dct * g * i * (1.f - i);
  *dzf = dct * c_prev * fc * (1.f - f);  // d(cont·σ(z))/dz = cont·σ·(1 − σ)
  *dzo = dh * tc * o * (1.f - o);
  *dzg = dct * i * (1.f - g * g);
  *dc_prev = dct * fc;
}

// ---- LSTM: the whole sequence -------------------------------------------------------------------------
// Outputs: h (T·N × H); gates (T·N × G), the activations i, f, o, g kept for backward; c (T·N × H) cell
// states; hc (T·N × H), hc_t = cont_t·h_{t−1}, the recurrent GEMM's input, kept for dW_hc; h_T, c_T (N × H)
// the final states. static_gates (N × G) is scratch for W_xc_static·x_static + b_c (unused when S = 0).
// Inputs: x (T·N × D), cont (T·N), x_static (N × S) or null, h_0, c_0 (N × H), W_xc (G × D), b_c (G),
// W_static (G × S) or null, W_hc (G × H).
void lstm_forward_cpu(float* h, float* gates, float* c, float* hc, float* h_T, float* c_T, float* static_gates,
                      const float* x, const float* cont, const float* x_static, const float* h_0,
                      const float* c_0, const float* W_xc, const float* b_c, const float* W_static,
                      const float* W_hc, int T, int N, int D, int S, int H);
void lstm_forward_gpu(float* h, float* gates, float* c, float* hc, float* h_T, float* c_T, float* static_gates,
                      const float* x, const float* cont, const float* x_static, const float* h_0,
                      const float* c_0, const float* W_xc, const float* b_c, const float* W_static,
                      const float* W_hc, int T, int N, int D, int S, int H, cudaStream_t stream);

// Gradients; any output may be null (not wanted). Input diffs (dx: T·N × D, dx_static: N × S, dh_0, dc_0:
// N × H) are overwritten, parameter diffs (dW_xc, db_c, dW_static, dW_hc) accumulated. Scratch: dgates
// (T·N × G), dgates_sum (N × G, static input only), dh_next, dc_next (N × H). dh (T·N × H) is the top diff;
// dh_T, dc_T (N × H) the diffs of the exposed final states, or null (zero). gates, c, hc, c_0 are the
// forward's; the state carried in from an earlier forward takes no gradient (its dh_0/dc_0 are null).
void lstm_backward_cpu(float* dx, float* dx_static, float* dh_0, float* dc_0, float* dW_xc, float* db_c,
                       float* dW_static, float* dW_hc, float* dgates, float* dgates_sum, float* dh_next,
                       float* dc_next, const float* dh, const float* dh_T, const float* dc_T, const float* gates,
                       const float* c, const float* hc, const float* c_0, const float* x, const float* cont,
                       const float* x_static, const float* W_xc, const float* W_static, const float* W_hc, int T,
                       int N, int D, int S, int H);
void lstm_backward_gpu(float* dx, float* dx_static, float* dh_0, float* dc_0, float* dW_xc, float* db_c,
                       float* dW_static, float* dW_hc, float* dgates, float* dgates_sum, float* dh_next,
                       float* dc_next, const float* dh, const float* dh_T, const float* dc_T, const float* gates,
                       const float* c, const float* hc, const float* c_0, const float* x, const float* cont,
                       const float* x_static, const float* W_xc, const float* W_static, const float* W_hc, int T,
                       int N, int D, int S, int H, cudaStream_t stream);

// ---- LSTMUnit (Caffe's standalone layer): one step from given pre-activations --------------------------
// c_prev (N × H), x (N × G) pre-activations (no bias added), cont (N) → c, h (N × H).
void lstm_unit_forward_cpu(float* c, float* h, const float* c_prev, const float* x, const float* cont, int N, int H);
void lstm_unit_forward_gpu(float* c, float* h, const float* c_prev, const float* x, const float* cont, int N, int H,
                           cudaStream_t stream);
// dc_prev (N × H) and dx (N × G) are overwritten (either may be null); dc, dh the top diffs; c the top data.
void lstm_unit_backward_cpu(float* dc_prev, float* dx, const float* dc, const float* dh, const float* c_prev,
                            const float* x, const float* c, const float* cont, int N, int H);
void lstm_unit_backward_gpu(float* dc_prev, float* dx, const float* dc, const float* dh, const float* c_prev,
                            const float* x, const float* c, const float* cont, int N, int H, cudaStream_t stream);

// ---- shared by the recurrent layers (LSTM: G = 4H; RNN: G = H) ------------------------------------------
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
