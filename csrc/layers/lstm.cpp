#include "layers/lstm.h"

#include <algorithm>
#include <cstring>

#include "gemm.h"

namespace lrcn {
namespace {
// One stream of one step: the loop over units that the compiler vectorizes (the four gate blocks are passed
// as separate restrict pointers so it knows they do not overlap; noinline keeps that knowledge, which GCC
// 12 loses when it inlines the call). z*: W_xc·x_t + W_hc·hc_t on entry, the activations on return;
// b*: the offset added (b_c, plus the static transform when there is one).
__attribute__((noinline))
void lstm_stream_forward(float* __restrict zi, float* __restrict zf, float* __restrict zo, float* __restrict zg,
                         float* __restrict c, float* __restrict h, const float* __restrict bi,
                         const float* __restrict bf, const float* __restrict bo, const float* __restrict bg,
                         const float* __restrict c_prev, float cont, int H) {
  for (int d = 0; d < H; ++d) {
    const float i = lstm_sigmoid(zi[d] + bi[d]), f = lstm_sigmoid(zf[d] + bf[d]);
    const float o = lstm_sigmoid(zo[d] + bo[d]), g = lstm_tanh(zg[d] + bg[d]);
    zi[d] = i, zf[d] = f, zo[d] = o, zg[d] = g;
    lstm_cell_forward(i, f, o, g, cont, c_prev[d], &c[d], &h[d]);
  }
}

// One step for all N streams. z (N × G) holds W_xc·x_t + W_hc·hc_t on entry and the activations i, f, o, g
// on return; stream n adds offset + n·offset_stride (G values). Writes c_t and h_t and, when hc_next is
// given, the next step's recurrent input cont_{t+1}·h_t.
void lstm_step_forward(float* z, float* c, float* h, float* hc_next, const float* c_prev, const float* offset,
                       int64_t offset_stride, const float* cont, const float* cont_next, int N, int H) {
  for (int n = 0; n < N; ++n) {
    float* zn = z + 4 * (int64_t)n * H;
    const float* bn = offset + n * offset_stride;
    const int64_t e = (int64_t)n * H;
    lstm_stream_forward(zn, zn + H, zn + 2 * H, zn + 3 * H, c + e, h + e, bn, bn + H, bn + 2 * H, bn + 3 * H,
                        c_prev + e, cont[n], H);
    if (hc_next)
      for (int d = 0; d < H; ++d) hc_next[e + d] = cont_next[n] * h[e + d];
  }
}

__attribute__((noinline))
void lstm_stream_backward(float* __restrict dzi, float* __restrict dzf, float* __restrict dzo, float* __restrict dzg,
                          float* __restrict dc, const float* __restrict dh, const float* __restrict dh_next,
                          float gate, const float* __restrict ai, const float* __restrict af,
                          const float* __restrict ao, const float* __restrict ag, const float* __restrict c,
                          const float* __restrict c_prev, float cont, int H) {
  for (int d = 0; d < H; ++d)
    lstm_cell_backward(ai[d], af[d], ao[d], ag[d], cont, c_prev[d], c[d], dh[d] + gate * dh_next[d], dc[d], &dzi[d],
                       &dzf[d], &dzo[d], &dzg[d], &dc[d]);
}

// One step backward for all N streams: dz (N × G) = the pre-activation gradients. The gradient w.r.t. h_t
// is dh (this step's top diff) + cont_{t+1}·dh_next (dh_next = W_hcᵀ·dz_{t+1}; no cont at the last step);
// dc_next holds the gradient w.r.t. c_t on entry and w.r.t. c_{t−1} on return.
void lstm_step_backward(float* dz, float* dc_next, const float* dh, const float* dh_next, const float* cont_next,
                        const float* a, const float* c, const float* c_prev, const float* cont, int N, int H) {
  for (int n = 0; n < N; ++n) {
    const int64_t g = 4 * (int64_t)n * H, e = (int64_t)n * H;
    lstm_stream_backward(dz + g, dz + g + H, dz + g + 2 * H, dz + g + 3 * H, dc_next + e, dh + e, dh_next + e,
                         cont_next ? cont_next[n] : 1.f, a + g, a + g + H, a + g + 2 * H, a + g + 3 * H, c + e,
                         c_prev + e, cont[n], H);
  }
}
}  // namespace

void recurrent_gate_rows_cpu(float* y, const float* x, const float* s, int N, int H) {
  for (int n = 0; n < N; ++n)
    for (int d = 0; d < H; ++d) y[(int64_t)n * H + d] = s[n] * x[(int64_t)n * H + d];
}

void recurrent_colsum_cpu(float* y, const float* X, int64_t R, int64_t C, bool accumulate) {
  constexpr int64_t kBlock = 256;  // columns per thread; each block sums its rows in order
#pragma omp parallel for if (R * C >= 65536)
  for (int64_t j0 = 0; j0 < C; j0 += kBlock) {
    const int64_t j1 = std::min(C, j0 + kBlock);
    if (!accumulate)
      for (int64_t j = j0; j < j1; ++j) y[j] = 0.f;
    for (int64_t r = 0; r < R; ++r)
      for (int64_t j = j0; j < j1; ++j) y[j] += X[r * C + j];
  }
}

void recurrent_weight_backward_cpu(float* dx, float* dx_static, float* dW_x, float* db, float* dW_s, float* dW_h,
                                   float* dz_sum, const float* dz, const float* x, const float* x_static,
                                   const float* hc, const float* W_x, const float* W_s, int T, int N, int D, int S,
                                   int H, int G) {
  const int TN = T * N;
  if (dW_x) gemm_cpu(true, false, G, D, TN, 1.f, dz, G, x, D, 1.f, dW_x, D);
  if (db) recurrent_colsum_cpu(db, dz, TN, G, true);
  if (dW_h) gemm_cpu(true, false, G, H, TN, 1.f, dz, G, hc, H, 1.f, dW_h, H);
  if (dx) gemm_cpu(false, false, TN, D, G, 1.f, dz, G, W_x, D, 0.f, dx, D);
  if (S > 0 && (dW_s || dx_static)) {
    recurrent_colsum_cpu(dz_sum, dz, T, (int64_t)N * G, false);
    if (dW_s) gemm_cpu(true, false, G, S, N, 1.f, dz_sum, G, x_static, S, 1.f, dW_s, S);
    if (dx_static) gemm_cpu(false, false, N, S, G, 1.f, dz_sum, G, W_s, S, 0.f, dx_static, S);
  }
}

void lstm_forward_cpu(float* h, float* gates, float* c, float* hc, float* h_T, float* c_T, float* static_gates,
                      const float* x, const float* cont, const float* x_static, const float* h_0,
                      const float* c_0, const float* W_xc, const float* b_c, const float* W_static,
                      const float* W_hc, int T, int N, int D, int S, int H) {
  const int G = 4 * H;
  const int64_t NH = (int64_t)N * H, NG = (int64_t)N * G;
  gemm_cpu(false, true, T * N, G, D, 1.f, x, D, W_xc, D, 0.f, gates, G);  // W_xc·x_t for every t at once
  // What every step adds: b_c, or per stream W_static·x_static + b_c.
  const float* offset = b_c;
  int64_t offset_stride = 0;
  if (S > 0) {
    for (int n = 0; n < N; ++n) std::memcpy(static_gates + (int64_t)n * G, b_c, G * sizeof(float));
    gemm_cpu(false, true, N, G, S, 1.f, x_static, S, W_static, S, 1.f, static_gates, G);
    offset = static_gates, offset_stride = G;
  }
  recurrent_gate_rows_cpu(hc, h_0, cont, N, H);
  for (int t = 0; t < T; ++t) {
    const bool last = t == T - 1;
    gemm_cpu(false, true, N, G, H, 1.f, hc + t * NH, H, W_hc, H, 1.f, gates + t * NG, G);
    lstm_step_forward(gates + t * NG, c + t * NH, h + t * NH, last ? nullptr : hc + (t + 1) * NH,
                      t ? c + (t - 1) * NH : c_0, offset, offset_stride, cont + (int64_t)t * N,
                      last ? nullptr : cont + (int64_t)(t + 1) * N, N, H);
  }
  std::memcpy(h_T, h + (T - 1) * NH, NH * sizeof(float));
  std::memcpy(c_T, c + (T - 1) * NH, NH * sizeof(float));
}

void lstm_backward_cpu(float* dx, float* dx_static, float* dh_0, float* dc_0, float* dW_xc, float* db_c,
                       float* dW_static, float* dW_hc, float* dgates, float* dgates_sum, float* dh_next,
                       float* dc_next, const float* dh, const float* dh_T, const float* dc_T, const float* gates,
                       const float* c, const float* hc, const float* c_0, const float* x, const float* cont,
                       const float* x_static, const float* W_xc, const float* W_static, const float* W_hc, int T,
                       int N, int D, int S, int H) {
  const int G = 4 * H;
  const int64_t NH = (int64_t)N * H, NG = (int64_t)N * G;
  if (dh_T) std::memcpy(dh_next, dh_T, NH * sizeof(float));
  else std::fill(dh_next, dh_next + NH, 0.f);
  if (dc_T) std::memcpy(dc_next, dc_T, NH * sizeof(float));
  else std::fill(dc_next, dc_next + NH, 0.f);
  for (int t = T - 1; t >= 0; --t) {
    lstm_step_backward(dgates + t * NG, dc_next, dh + t * NH, dh_next,
                       t == T - 1 ? nullptr : cont + (int64_t)(t + 1) * N, gates + t * NG, c + t * NH,
                       t ? c + (t - 1) * NH : c_0, cont + (int64_t)t * N, N, H);
    if (t > 0 || dh_0) gemm_cpu(false, false, N, H, G, 1.f, dgates + t * NG, G, W_hc, H, 0.f, dh_next, H);
  }
  if (dh_0) recurrent_gate_rows_cpu(dh_0, dh_next, cont, N, H);  // hc_0 = cont_0·h_0
  if (dc_0) std::memcpy(dc_0, dc_next, NH * sizeof(float));
  recurrent_weight_backward_cpu(dx, dx_static, dW_xc, db_c, dW_static, dW_hc, dgates_sum, dgates, x, x_static, hc,
                                W_xc, W_static, T, N, D, S, H, G);
}

void lstm_unit_forward_cpu(float* c, float* h, const float* c_prev, const float* x, const float* cont, int N,
                           int H) {
  const int64_t G = 4 * (int64_t)H;
  for (int n = 0; n < N; ++n) {
    const float* xn = x + n * G;
    for (int d = 0; d < H; ++d) {
      const int64_t e = (int64_t)n * H + d;
      lstm_cell_forward(lstm_sigmoid(xn[d]), lstm_sigmoid(xn[H + d]), lstm_sigmoid(xn[2 * H + d]),
                        lstm_tanh(xn[3 * H + d]), cont[n], c_prev[e], &c[e], &h[e]);
    }
  }
}

void lstm_unit_backward_cpu(float* dc_prev, float* dx, const float* dc, const float* dh, const float* c_prev,
                            const float* x, const float* c, const float* cont, int N, int H) {
  const int64_t G = 4 * (int64_t)H;
  for (int n = 0; n < N; ++n) {
    const float* xn = x + n * G;
    for (int d = 0; d < H; ++d) {
      const int64_t e = (int64_t)n * H + d;
      float dz[4], dcp;
      lstm_cell_backward(lstm_sigmoid(xn[d]), lstm_sigmoid(xn[H + d]), lstm_sigmoid(xn[2 * H + d]),
                         lstm_tanh(xn[3 * H + d]), cont[n], c_prev[e], c[e], dh[e], dc[e], &dz[0], &dz[1],
                         &dz[2], &dz[3], &dcp);
      if (dx)
        for (int k = 0; k < 4; ++k) dx[n * G + k * H + d] = dz[k];
      if (dc_prev) dc_prev[e] = dcp;
    }
  }
}
}  // namespace lrcn
