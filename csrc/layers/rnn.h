// Caffe's RNN layer over a whole sequence in one call (sizes as in lstm.h, with G = H):
//   h_t = tanh(W_hh·(cont_t·h_{t−1}) + W_xh·x_t + b_h + W_xh_static·x_static),   o_t = tanh(W_ho·h_t + b_o)
// Forward: one GEMM for W_xh·x over all T·N rows, one for the static input, per step a recurrent GEMM
// (M=N, N=H, K=H) and one fused tanh pass, then one GEMM for W_ho·h over all T·N rows. Backward mirrors it.
#pragma once
#include "layers/recurrent.h"

namespace lrcn {
// The arguments by name (as LstmForward); static_z is scratch for W_static·x_static (unused when S = 0).
struct RnnForward {
  float* o = nullptr;         // T·N × H
  float* hs = nullptr;        // T·N × H, the hidden states h_1..h_T, kept for backward
  float* hc = nullptr;        // T·N × H, hc_t = cont_t·h_{t−1}
  float* h_T = nullptr;       // N × H
  float* static_z = nullptr;  // N × H scratch, or null when S = 0
  const float* x = nullptr;         // T·N × D
  const float* cont = nullptr;      // T·N
  const float* x_static = nullptr;  // N × S, or null
  const float* h_0 = nullptr;       // N × H
  const float* W_xh = nullptr;      // H × D
  const float* b_h = nullptr;       // H
  const float* W_static = nullptr;  // H × S, or null
  const float* W_hh = nullptr;      // H × H
  const float* W_ho = nullptr;      // H × H
  const float* b_o = nullptr;       // H
  int T = 0, N = 0, D = 0, S = 0, H = 0;
};
void rnn_forward_cpu(const RnnForward& p);
void rnn_forward_gpu(const RnnForward& p, cudaStream_t stream);

// Gradients; any output may be null. Input diffs (dx, dx_static, dh_0) overwritten, parameter diffs
// accumulated.
struct RnnBackward {
  float* dx = nullptr;         // T·N × D
  float* dx_static = nullptr;  // N × S
  float* dh_0 = nullptr;       // N × H
  float* dW_xh = nullptr;      // H × D
  float* db_h = nullptr;       // H
  float* dW_static = nullptr;  // H × S
  float* dW_hh = nullptr;      // H × H
  float* dW_ho = nullptr;      // H × H
  float* db_o = nullptr;       // H
  float* dzo = nullptr;        // T·N × H scratch
  float* dz = nullptr;         // T·N × H scratch
  float* dz_sum = nullptr;     // N × H scratch (static input only)
  float* dh_next = nullptr;    // N × H scratch
  const float* do_ = nullptr;   // T·N × H, the top diff
  const float* dh_T = nullptr;  // N × H, the exposed final state's diff, or null
  const float* o = nullptr;     // the forward's o, hs, hc
  const float* hs = nullptr;
  const float* hc = nullptr;
  const float* x = nullptr;  // the forward's inputs and weights
  const float* cont = nullptr;
  const float* x_static = nullptr;
  const float* W_xh = nullptr;
  const float* W_static = nullptr;
  const float* W_hh = nullptr;
  const float* W_ho = nullptr;
  int T = 0, N = 0, D = 0, S = 0, H = 0;
};
void rnn_backward_cpu(const RnnBackward& p);
void rnn_backward_gpu(const RnnBackward& p, cudaStream_t stream);
}  // namespace lrcn
