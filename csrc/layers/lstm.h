// Caffe's LSTM layer over a whole sequence in one call and its standalone LSTMUnit layer.
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
#include "layers/recurrent.h"


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
// The arguments by name: two arrays of one shape cannot be swapped unnoticed. Sizes as above; "or null":
// optional. static_gates is scratch for W_static·x_static + b_c (unused when S = 0).
struct LstmForward {
  float* h = nullptr;             // T·N × H
  float* gates = nullptr;         // T·N × G, the activations i, f, o, g kept for backward
  float* c = nullptr;             // T·N × H cell states
  float* hc = nullptr;            // T·N × H, hc_t = cont_t·h_{t−1}: the recurrent GEMM's input, kept for dW_hc
  float* h_T = nullptr;           // N × H final states
  float* c_T = nullptr;           // N × H
  float* static_gates = nullptr;  // N × G scratch, or null when S = 0
  const float* x = nullptr;         // T·N × D
  const float* cont = nullptr;      // T·N
  const float* x_static = nullptr;  // N × S, or null
  const float* h_0 = nullptr;       // N × H
  const float* c_0 = nullptr;       // N × H
  const float* W_xc = nullptr;      // G × D
  const float* b_c = nullptr;       // G
  const float* W_static = nullptr;  // G × S, or null
  const float* W_hc = nullptr;      // G × H
  int T = 0, N = 0, D = 0, S = 0, H = 0;
};
void lstm_forward_cpu(const LstmForward& p);
void lstm_forward_gpu(const LstmForward& p, cudaStream_t stream);

// Gradients; any output may be null (not wanted). Input diffs (dx, dx_static, dh_0, dc_0) are overwritten,
// parameter diffs (dW_xc, db_c, dW_static, dW_hc) accumulated. The state carried in from an earlier forward
// takes no gradient (its dh_0/dc_0 are null).
struct LstmBackward {
  float* dx = nullptr;          // T·N × D
  float* dx_static = nullptr;   // N × S
  float* dh_0 = nullptr;        // N × H
  float* dc_0 = nullptr;        // N × H
  float* dW_xc = nullptr;       // G × D
  float* db_c = nullptr;        // G
  float* dW_static = nullptr;   // G × S
  float* dW_hc = nullptr;       // G × H
  float* dgates = nullptr;      // T·N × G scratch
  float* dgates_sum = nullptr;  // N × G scratch (static input only)
  float* dh_next = nullptr;     // N × H scratch
  float* dc_next = nullptr;     // N × H scratch
  const float* dh = nullptr;    // T·N × H, the top diff
  const float* dh_T = nullptr;  // N × H, the exposed final states' diffs, or null (zero)
  const float* dc_T = nullptr;  // N × H, or null
  const float* gates = nullptr;  // the forward's gates, c, hc and c_0
  const float* c = nullptr;
  const float* hc = nullptr;
  const float* c_0 = nullptr;
  const float* x = nullptr;         // the forward's inputs and weights
  const float* cont = nullptr;
  const float* x_static = nullptr;
  const float* W_xc = nullptr;
  const float* W_static = nullptr;
  const float* W_hc = nullptr;
  int T = 0, N = 0, D = 0, S = 0, H = 0;
};
void lstm_backward_cpu(const LstmBackward& p);
void lstm_backward_gpu(const LstmBackward& p, cudaStream_t stream);

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

}  // namespace lrcn
