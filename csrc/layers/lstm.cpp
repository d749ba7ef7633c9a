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

void lstm_forward_cpu(const LstmForward& p) {
  const int G = 4 * p.H;
  const int64_t NH = (int64_t)p.N * p.H, NG = (int64_t)p.N * G;
  gemm_cpu(false, true, p.T * p.N, G, p.D, 1.f, p.x, p.D, p.W_xc, p.D, 0.f, p.gates, G);  // W_xc·x_t for every t at once
  // What every step adds: b_c, or per stream W_static·x_static + b_c.
  const float* offset = p.b_c;
  int64_t offset_stride = 0;
  if (p.S > 0) {
    for (int n = 0; n < p.N; ++n) std::memcpy(p.static_gates + (int64_t)n * G, p.b_c, G * sizeof(float));
    gemm_cpu(false, true, p.N, G, p.S, 1.f, p.x_static, p.S, p.W_static, p.S, 1.f, p.static_gates, G);
    offset = p.static_gates, offset_stride = G;
  }
  recurrent_gate_rows_cpu(p.hc, p.h_0, p.cont, p.N, p.H);
  for (int t = 0; t < p.T; ++t) {
    const bool last = t == p.T - 1;
    gemm_cpu(false, true, p.N, G, p.H, 1.f, p.hc + t * NH, p.H, p.W_hc, p.H, 1.f, p.gates + t * NG, G);
    lstm_step_forward(p.gates + t * NG, p.c + t * NH, p.h + t * NH, last ? nullptr : p.hc + (t + 1) * NH,
                      t ? p.c + (t - 1) * NH : p.c_0, offset, offset_stride, p.cont + (int64_t)t * p.N,
                      last ? nullptr : p.cont + (int64_t)(t + 1) * p.N, p.N, p.H);
  }
  std::memcpy(p.h_T, p.h + (p.T - 1) * NH, NH * sizeof(float));
  std::memcpy(p.c_T, p.c + (p.T - 1) * NH, NH * sizeof(float));
}

void lstm_backward_cpu(const LstmBackward& p) {
  const int G = 4 * p.H;
  const int64_t NH = (int64_t)p.N * p.H, NG = (int64_t)p.N * G;
  if (p.dh_T) std::memcpy(p.dh_next, p.dh_T, NH * sizeof(float));
  else std::fill(p.dh_next, p.dh_next + NH, 0.f);
  if (p.dc_T) std::memcpy(p.dc_next, p.dc_T, NH * sizeof(float));
  else std::fill(p.dc_next, p.dc_next + NH, 0.f);
  for (int t = p.T - 1; t >= 0; --t) {
    lstm_step_backward(p.dgates + t * NG, p.dc_next, p.dh + t * NH, p.dh_next,
                       t == p.T - 1 ? nullptr : p.cont + (int64_t)(t + 1) * p.N, p.gates + t * NG, p.c + t * NH,
                       t ? p.c + (t - 1) * NH : p.c_0, p.cont + (int64_t)t * p.N, p.N, p.H);
    if (t > 0 || p.dh_0) gemm_cpu(false, false, p.N, p.H, G, 1.f, p.dgates + t * NG, G, p.W_hc, p.H, 0.f, p.dh_next, p.H);
  }
  if (p.dh_0) recurrent_gate_rows_cpu(p.dh_0, p.dh_next, p.cont, p.N, p.H);  // hc_0 = cont_0·h_0
  if (p.dc_0) std::memcpy(p.dc_0, p.dc_next, NH * sizeof(float));
  recurrent_weight_backward_cpu(p.dx, p.dx_static, p.dW_xc, p.db_c, p.dW_static, p.dW_hc, p.dgates_sum, p.dgates, p.x,
                                p.x_static, p.hc, p.W_xc, p.W_static, p.T, p.N, p.D, p.S, p.H, G);
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
