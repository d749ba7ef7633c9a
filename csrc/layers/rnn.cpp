#include "layers/rnn.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "gemm.h"

namespace lrcn {
namespace {
// z (N × H) holds W_xh·x_t + W_hh·hc_t on entry and h_t = tanh(z + b_h + zs) on return (zs: the static
// transform or null); hc_next, when given, gets the next step's recurrent input cont_{t+1}·h_t.
void rnn_step_forward(float* z, float* hc_next, const float* b, const float* zs, const float* cont_next, int N,
                      int H) {
#pragma omp parallel for if ((int64_t)N * H >= 16384)
  for (int n = 0; n < N; ++n)
    for (int d = 0; d < H; ++d) {
      const int64_t e = (int64_t)n * H + d;
      z[e] = std::tanh(z[e] + b[d] + (zs ? zs[e] : 0.f));
      if (hc_next) hc_next[e] = cont_next[n] * z[e];
    }
}

// dz (N × H) holds the gradient w.r.t. h_t from the output layer on entry and w.r.t. the pre-activation on
// return; the recurrent part is cont_{t+1}·dh_next (dh_next = W_hhᵀ·dz_{t+1}; no cont at the last step).
void rnn_step_backward(float* dz, const float* dh_next, const float* cont_next, const float* h, int N, int H) {
#pragma omp parallel for if ((int64_t)N * H >= 16384)
  for (int n = 0; n < N; ++n) {
    const float gate = cont_next ? cont_next[n] : 1.f;
    for (int d = 0; d < H; ++d) {
      const int64_t e = (int64_t)n * H + d;
      dz[e] = (dz[e] + gate * dh_next[e]) * (1.f - h[e] * h[e]);
    }
  }
}
}  // namespace

void rnn_forward_cpu(const RnnForward& p) {
  const int64_t NH = (int64_t)p.N * p.H, TNH = p.T * NH;
  gemm_cpu(false, true, p.T * p.N, p.H, p.D, 1.f, p.x, p.D, p.W_xh, p.D, 0.f, p.hs, p.H);
  if (p.S > 0) gemm_cpu(false, true, p.N, p.H, p.S, 1.f, p.x_static, p.S, p.W_static, p.S, 0.f, p.static_z, p.H);
  recurrent_gate_rows_cpu(p.hc, p.h_0, p.cont, p.N, p.H);
  for (int t = 0; t < p.T; ++t) {
    const bool last = t == p.T - 1;
    gemm_cpu(false, true, p.N, p.H, p.H, 1.f, p.hc + t * NH, p.H, p.W_hh, p.H, 1.f, p.hs + t * NH, p.H);
    rnn_step_forward(p.hs + t * NH, last ? nullptr : p.hc + (t + 1) * NH, p.b_h, p.S > 0 ? p.static_z : nullptr,
                     last ? nullptr : p.cont + (int64_t)(t + 1) * p.N, p.N, p.H);
  }
  std::memcpy(p.h_T, p.hs + (p.T - 1) * NH, NH * sizeof(float));
  gemm_cpu(false, true, p.T * p.N, p.H, p.H, 1.f, p.hs, p.H, p.W_ho, p.H, 0.f, p.o, p.H);
#pragma omp parallel for if (TNH >= 16384)
  for (int64_t e = 0; e < TNH; ++e) p.o[e] = std::tanh(p.o[e] + p.b_o[e % p.H]);
}

void rnn_backward_cpu(const RnnBackward& p) {
  const int64_t NH = (int64_t)p.N * p.H, TNH = p.T * NH;
  // The output layer over all timesteps: dzo = do·(1 − o²), dW_ho += dzoᵀ·h, db_o += Σ dzo, dh = dzo·W_ho.
#pragma omp parallel for if (TNH >= 16384)
  for (int64_t e = 0; e < TNH; ++e) p.dzo[e] = p.do_[e] * (1.f - p.o[e] * p.o[e]);
  if (p.dW_ho) gemm_cpu(true, false, p.H, p.H, p.T * p.N, 1.f, p.dzo, p.H, p.hs, p.H, 1.f, p.dW_ho, p.H);
  if (p.db_o) recurrent_colsum_cpu(p.db_o, p.dzo, p.T * p.N, p.H, true);
  gemm_cpu(false, false, p.T * p.N, p.H, p.H, 1.f, p.dzo, p.H, p.W_ho, p.H, 0.f, p.dz, p.H);
  // The recurrence in reverse.
  if (p.dh_T) std::memcpy(p.dh_next, p.dh_T, NH * sizeof(float));
  else std::fill(p.dh_next, p.dh_next + NH, 0.f);
  for (int t = p.T - 1; t >= 0; --t) {
    rnn_step_backward(p.dz + t * NH, p.dh_next, t == p.T - 1 ? nullptr : p.cont + (int64_t)(t + 1) * p.N,
                      p.hs + t * NH, p.N, p.H);
    if (t > 0 || p.dh_0) gemm_cpu(false, false, p.N, p.H, p.H, 1.f, p.dz + t * NH, p.H, p.W_hh, p.H, 0.f, p.dh_next, p.H);
  }
  if (p.dh_0) recurrent_gate_rows_cpu(p.dh_0, p.dh_next, p.cont, p.N, p.H);
  recurrent_weight_backward_cpu(p.dx, p.dx_static, p.dW_xh, p.db_h, p.dW_static, p.dW_hh, p.dz_sum, p.dz, p.x,
                                p.x_static, p.hc, p.W_xh, p.W_static, p.T, p.N, p.D, p.S, p.H, p.H);
}
}  // namespace lrcn
