// Caffe's RNN layer over a whole sequence in one call (sizes as in lstm.h, with G = H):
//   h_t = tanh(W_hh·(cont_t·h_{t−1}) + W_xh·x_t + b_h + W_xh_static·x_static),   o_t = tanh(W_ho·h_t + b_o)
// Forward: one GEMM for W_xh·x over all T·N rows, one for the static input, per step a recurrent GEMM
// (M=N, N=H, K=H) and one fused tanh pass, then one GEMM for W_ho·h over all T·N rows. Backward mirrors it.
#pragma once
#include "layers/lstm.h"

namespace lrcn {
// Outputs: o (T·N × H); hs (T·N × H) the hidden states h_1..h_T, kept for backward; hc (T·N × H),
// hc_t = cont_t·h_{t−1}; h_T (N × H); static_z (N × H) scratch for W_xh_static·x_static (unused when S = 0).
// Inputs: x (T·N × D), cont (T·N), x_static (N × S) or null, h_0 (N × H), W_xh (H × D), b_h (H),
// W_static (H × S) or null, W_hh (H × H), W_ho (H × H), b_o (H).
void rnn_forward_cpu(float* o, float* hs, float* hc, float* h_T, float* static_z, const float* x, const float* cont,
                     const float* x_static, const float* h_0, const float* W_xh, const float* b_h,
                     const float* W_static, const float* W_hh, const float* W_ho, const float* b_o, int T, int N,
                     int D, int S, int H);
void rnn_forward_gpu(float* o, float* hs, float* hc, float* h_T, float* static_z, const float* x, const float* cont,
                     const float* x_static, const float* h_0, const float* W_xh, const float* b_h,
                     const float* W_static, const float* W_hh, const float* W_ho, const float* b_o, int T, int N,
                     int D, int S, int H, cudaStream_t stream);

// Gradients; any output may be null. Input diffs (dx, dx_static, dh_0) overwritten, parameter diffs
// accumulated. Scratch: dzo, dz (T·N × H), dz_sum (N × H, static input only), dh_next (N × H).
// do_ (T·N × H) is the top diff, dh_T (N × H) the exposed final state's diff or null.
void rnn_backward_cpu(float* dx, float* dx_static, float* dh_0, float* dW_xh, float* db_h, float* dW_static,
                      float* dW_hh, float* dW_ho, float* db_o, float* dzo, float* dz, float* dz_sum, float* dh_next,
                      const float* do_, const float* dh_T, const float* o, const float* hs, const float* hc,
                      const float* x, const float* cont, const float* x_static, const float* W_xh,
                      const float* W_static, const float* W_hh, const float* W_ho, int T, int N, int D, int S, int H);
void rnn_backward_gpu(float* dx, float* dx_static, float* dh_0, float* dW_xh, float* db_h, float* dW_static,
                      float* dW_hh, float* dW_ho, float* db_o, float* dzo, float* dz, float* dz_sum, float* dh_next,
                      const float* do_, const float* dh_T, const float* o, const float* hs, const float* hc,
                      const float* x, const float* cont, const float* x_static, const float* W_xh,
                      const float* W_static, const float* W_hh, const float* W_ho, int T, int N, int D, int S, int H,
                      cudaStream_t stream);
}  // namespace lrcn
