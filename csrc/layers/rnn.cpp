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

void rnn_forward_cpu(float* o, float* hs, float* hc, float* h_T, float* static_z, const float* x, const float* cont,
                     const float* x_static, const float* h_0, const float* W_xh, const float* b_h,
                     const float* W_static, const float* W_hh, const float* W_ho, const float* b_o, int T, int N,
                     int D, int S, int H) {
  const int64_t NH = (int64_t)N * H, TNH = T * NH;
  gemm_cpu(false, true, T * N, H, D, 1.f, x, D, W_xh, D, 0.f, hs, H);
  if (S > 0) gemm_cpu(false, true, N, H, S, 1.f, x_static, S, W_static, S, 0.f, static_z, H);
  recurrent_gate_rows_cpu(hc, h_0, cont, N, H);
  for (int t = 0; t < T; ++t) {
    const bool last = t == T - 1;
    gemm_cpu(false, true, N, H, H, 1.f, hc + t * NH, H, W_hh, H, 1.f, hs + t * NH, H);
    rnn_step_forward(hs + t * NH, last ? nullptr : hc + (t + 1) * NH, b_h, S > 0 ? static_z : nullptr,
                     last ? nullptr : cont + (int64_t)(t + 1) * N, N, H);
  }
  std::memcpy(h_T, hs + (T - 1) * NH, NH * sizeof(float));
  gemm_cpu(false, true, T * N, H, H, 1.f, hs, H, W_ho, H, 0.f, o, H);
#pragma omp parallel for if (TNH >= 16384)
  for (int64_t e = 0; e < TNH; ++e) o[e] = std::tanh(o[e] + b_o[e % H]);
}

void rnn_backward_cpu(float* dx, float* dx_static, float* dh_0, float* dW_xh, float* db_h, float* dW_static,
                      float* dW_hh, float* dW_ho, float* db_o, float* dzo, float* dz, float* dz_sum, float* dh_next,
                      const float* do_, const float* dh_T, const float* o, const float* hs, const float* hc,
                      const float* x, const float* cont, const float* x_static, const float* W_xh,
                      const float* W_static, const float* W_hh, const float* W_ho, int T, int N, int D, int S,
                      int H) {
  const int64_t NH = (int64_t)N * H, TNH = T * NH;
  // The output layer over all timesteps: dzo = do·(1 − o²), dW_ho += dzoᵀ·h, db_o += Σ dzo, dh = dzo·W_ho.
#pragma omp parallel for if (TNH >= 16384)
  for (int64_t e = 0; e < TNH; ++e) dzo[e] = do_[e] * (1.f - o[e] * o[e]);
  if (dW_ho) gemm_cpu(true, false, H, H, T * N, 1.f, dzo, H, hs, H, 1.f, dW_ho, H);
  if (db_o) recurrent_colsum_cpu(db_o, dzo, T * N, H, true);
  gemm_cpu(false, false, T * N, H, H, 1.f, dzo, H, W_ho, H, 0.f, dz, H);
  // The recurrence in reverse.
  if (dh_T) std::memcpy(dh_next, dh_T, NH * sizeof(float));
  else std::fill(dh_next, dh_next + NH, 0.f);
  for (int t = T - 1; t >= 0; --t) {
    rnn_step_backward(dz + t * NH, dh_next, t == T - 1 ? nullptr : cont + (int64_t)(t + 1) * N, hs + t * NH, N, H);
    if (t > 0 || dh_0) gemm_cpu(false, false, N, H, H, 1.f, dz + t * NH, H, W_hh, H, 0.f, dh_next, H);
  }
  if (dh_0) recurrent_gate_rows_cpu(dh_0, dh_next, cont, N, H);
  recurrent_weight_backward_cpu(dx, dx_static, dW_xh, db_h, dW_static, dW_hh, dz_sum, dz, x, x_static, hc, W_xh,
                                W_static, T, N, D, S, H, H);
}
}  // namespace lrcn
