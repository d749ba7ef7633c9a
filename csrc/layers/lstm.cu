// The CUDA twins of lstm.cpp: the same driver (same GEMMs in the same order), with each loop over
// (stream, unit) as a grid-stride kernel around the same cell functions from lstm.h.
#include "layers/lstm.h"

#include "gemm.h"

namespace lrcn {
namespace {
__global__ void lstm_step_forward_kernel(float* z, float* c, float* h, float* hc_next, const float* c_prev,
                                         const float* offset, int64_t offset_stride, const float* cont,
                                         const float* cont_next, int N, int H) {
  LRCN_KERNEL_LOOP(e, (int64_t)N * H) {
    const int64_t n = e / H, d = e % H;
    float* zn = z + 4 * n * H;
    const float* bn = offset + n * offset_stride;
    const float i = lstm_sigmoid(zn[d] + bn[d]), f = lstm_sigmoid(zn[H + d] + bn[H + d]);
    const float o = lstm_sigmoid(zn[2 * H + d] + bn[2 * H + d]), g = lstm_tanh(zn[3 * H + d] + bn[3 * H + d]);
    zn[d] = i, zn[H + d] = f, zn[2 * H + d] = o, zn[3 * H + d] = g;
    lstm_cell_forward(i, f, o, g, cont[n], c_prev[e], &c[e], &h[e]);
    if (hc_next) hc_next[e] = cont_next[n] * h[e];
  }
}

// y (N × G): every row a copy of b (G).
__global__ void broadcast_rows_kernel(float* y, const float* b, int N, int G) {
  LRCN_KERNEL_LOOP(e, (int64_t)N * G) y[e] = b[e % G];
}

__global__ void lstm_step_backward_kernel(float* dz, float* dc_next, const float* dh, const float* dh_next,
                                          const float* cont_next, const float* a, const float* c,
                                          const float* c_prev, const float* cont, int N, int H) {
  const int64_t G = 4 * (int64_t)H;
  LRCN_KERNEL_LOOP(e, (int64_t)N * H) {
    const int64_t n = e / H, d = e % H;
    const float* an = a + n * G;
    float* dzn = dz + n * G;
    const float gate = cont_next ? cont_next[n] : 1.f;
    lstm_cell_backward(an[d], an[H + d], an[2 * H + d], an[3 * H + d], cont[n], c_prev[e], c[e],
                       dh[e] + gate * dh_next[e], dc_next[e], &dzn[d], &dzn[H + d], &dzn[2 * H + d],
                       &dzn[3 * H + d], &dc_next[e]);
  }
}

__global__ void gate_rows_kernel(float* y, const float* x, const float* s, int N, int H) {
  LRCN_KERNEL_LOOP(e, (int64_t)N * H) y[e] = s[e / H] * x[e];
}

// One thread per column, summing its rows in order (the CPU's order, so the sums agree bit for bit).
__global__ void colsum_kernel(float* y, const float* X, int64_t R, int64_t C, bool accumulate) {
  LRCN_KERNEL_LOOP(j, C) {
    float acc = accumulate ? y[j] : 0.f;
    for (int64_t r = 0; r < R; ++r) acc += X[r * C + j];
    y[j] = acc;
  }
}

__global__ void lstm_unit_forward_kernel(float* c, float* h, const float* c_prev, const float* x, const float* cont,
                                         int N, int H) {
  const int64_t G = 4 * (int64_t)H;
  LRCN_KERNEL_LOOP(e, (int64_t)N * H) {
    const int64_t n = e / H, d = e % H;
    const float* xn = x + n * G;
    lstm_cell_forward(lstm_sigmoid(xn[d]), lstm_sigmoid(xn[H + d]), lstm_sigmoid(xn[2 * H + d]),
                      lstm_tanh(xn[3 * H + d]), cont[n], c_prev[e], &c[e], &h[e]);
  }
}

__global__ void lstm_unit_backward_kernel(float* dc_prev, float* dx, const float* dc, const float* dh,
                                          const float* c_prev, const float* x, const float* c, const float* cont,
                                          int N, int H) {
  const int64_t G = 4 * (int64_t)H;
  LRCN_KERNEL_LOOP(e, (int64_t)N * H) {
    const int64_t n = e / H, d = e % H;
    const float* xn = x + n * G;
    float dz[4], dcp;
    lstm_cell_backward(lstm_sigmoid(xn[d]), lstm_sigmoid(xn[H + d]), lstm_sigmoid(xn[2 * H + d]),
                       lstm_tanh(xn[3 * H + d]), cont[n], c_prev[e], c[e], dh[e], dc[e], &dz[0], &dz[1], &dz[2],
                       &dz[3], &dcp);
    if (dx)
      for (int k = 0; k < 4; ++k) dx[n * G + k * H + d] = dz[k];
    if (dc_prev) dc_prev[e] = dcp;
  }
}
}  // namespace

void recurrent_gate_rows_gpu(float* y, const float* x, const float* s, int N, int H, cudaStream_t stream) {
  const int64_t n = (int64_t)N * H;
  if (n > 0) gate_rows_kernel<<<blocks_for(n), kThreads, 0, stream>>>(y, x, s, N, H);
}

void recurrent_colsum_gpu(float* y, const float* X, int64_t R, int64_t C, bool accumulate, cudaStream_t stream) {
  if (C > 0) colsum_kernel<<<blocks_for(C), kThreads, 0, stream>>>(y, X, R, C, accumulate);
}

void recurrent_weight_backward_gpu(float* dx, float* dx_static, float* dW_x, float* db, float* dW_s, float* dW_h,
                                   float* dz_sum, const float* dz, const float* x, const float* x_static,
                                   const float* hc, const float* W_x, const float* W_s, int T, int N, int D, int S,
                                   int H, int G, cudaStream_t stream) {
  const int TN = T * N;
  if (dW_x) gemm_gpu(true, false, G, D, TN, 1.f, dz, G, x, D, 1.f, dW_x, D, stream);
  if (db) recurrent_colsum_gpu(db, dz, TN, G, true, stream);
  if (dW_h) gemm_gpu(true, false, G, H, TN, 1.f, dz, G, hc, H, 1.f, dW_h, H, stream);
  if (dx) gemm_gpu(false, false, TN, D, G, 1.f, dz, G, W_x, D, 0.f, dx, D, stream);
  if (S > 0 && (dW_s || dx_static)) {
    recurrent_colsum_gpu(dz_sum, dz, T, (int64_t)N * G, false, stream);
    if (dW_s) gemm_gpu(true, false, G, S, N, 1.f, dz_sum, G, x_static, S, 1.f, dW_s, S, stream);
    if (dx_static) gemm_gpu(false, false, N, S, G, 1.f, dz_sum, G, W_s, S, 0.f, dx_static, S, stream);
  }
}

void lstm_forward_gpu(float* h, float* gates, float* c, float* hc, float* h_T, float* c_T, float* static_gates,
                      const float* x, const float* cont, const float* x_static, const float* h_0,
                      const float* c_0, const float* W_xc, const float* b_c, const float* W_static,
                      const float* W_hc, int T, int N, int D, int S, int H, cudaStream_t stream) {
  const int G = 4 * H;
  const int64_t NH = (int64_t)N * H, NG = (int64_t)N * G;
  if (NH == 0) return;
  gemm_gpu(false, true, T * N, G, D, 1.f, x, D, W_xc, D, 0.f, gates, G, stream);
  const float* offset = b_c;
  int64_t offset_stride = 0;
  if (S > 0) {
    broadcast_rows_kernel<<<blocks_for(NG), kThreads, 0, stream>>>(static_gates, b_c, N, G);
    gemm_gpu(false, true, N, G, S, 1.f, x_static, S, W_static, S, 1.f, static_gates, G, stream);
    offset = static_gates, offset_stride = G;
  }
  recurrent_gate_rows_gpu(hc, h_0, cont, N, H, stream);
  for (int t = 0; t < T; ++t) {
    const bool last = t == T - 1;
    gemm_gpu(false, true, N, G, H, 1.f, hc + t * NH, H, W_hc, H, 1.f, gates + t * NG, G, stream);
    lstm_step_forward_kernel<<<blocks_for(NH), kThreads, 0, stream>>>(
        gates + t * NG, c + t * NH, h + t * NH, last ? nullptr : hc + (t + 1) * NH, t ? c + (t - 1) * NH : c_0,
        offset, offset_stride, cont + (int64_t)t * N, last ? nullptr : cont + (int64_t)(t + 1) * N, N, H);
  }
  LRCN_CUDA_CHECK(cudaMemcpyAsync(h_T, h + (T - 1) * NH, NH * sizeof(float), cudaMemcpyDeviceToDevice, stream));
  LRCN_CUDA_CHECK(cudaMemcpyAsync(c_T, c + (T - 1) * NH, NH * sizeof(float), cudaMemcpyDeviceToDevice, stream));
}

void lstm_backward_gpu(float* dx, float* dx_static, float* dh_0, float* dc_0, float* dW_xc, float* db_c,
                       float* dW_static, float* dW_hc, float* dgates, float* dgates_sum, float* dh_next,
                       float* dc_next, const float* dh, const float* dh_T, const float* dc_T, const float* gates,
                       const float* c, const float* hc, const float* c_0, const float* x, const float* cont,
                       const float* x_static, const float* W_xc, const float* W_static, const float* W_hc, int T,
                       int N, int D, int S, int H, cudaStream_t stream) {
  const int G = 4 * H;
  const int64_t NH = (int64_t)N * H, NG = (int64_t)N * G;
  if (NH == 0) return;
  if (dh_T) LRCN_CUDA_CHECK(cudaMemcpyAsync(dh_next, dh_T, NH * sizeof(float), cudaMemcpyDeviceToDevice, stream));
  else LRCN_CUDA_CHECK(cudaMemsetAsync(dh_next, 0, NH * sizeof(float), stream));
  if (dc_T) LRCN_CUDA_CHECK(cudaMemcpyAsync(dc_next, dc_T, NH * sizeof(float), cudaMemcpyDeviceToDevice, stream));
  else LRCN_CUDA_CHECK(cudaMemsetAsync(dc_next, 0, NH * sizeof(float), stream));
  for (int t = T - 1; t >= 0; --t) {
    lstm_step_backward_kernel<<<blocks_for(NH), kThreads, 0, stream>>>(
        dgates + t * NG, dc_next, dh + t * NH, dh_next, t == T - 1 ? nullptr : cont + (int64_t)(t + 1) * N,
        gates + t * NG, c + t * NH, t ? c + (t - 1) * NH : c_0, cont + (int64_t)t * N, N, H);
    if (t > 0 || dh_0) gemm_gpu(false, false, N, H, G, 1.f, dgates + t * NG, G, W_hc, H, 0.f, dh_next, H, stream);
  }
  if (dh_0) recurrent_gate_rows_gpu(dh_0, dh_next, cont, N, H, stream);
  if (dc_0) LRCN_CUDA_CHECK(cudaMemcpyAsync(dc_0, dc_next, NH * sizeof(float), cudaMemcpyDeviceToDevice, stream));
  recurrent_weight_backward_gpu(dx, dx_static, dW_xc, db_c, dW_static, dW_hc, dgates_sum, dgates, x, x_static, hc,
                                W_xc, W_static, T, N, D, S, H, G, stream);
}

void lstm_unit_forward_gpu(float* c, float* h, const float* c_prev, const float* x, const float* cont, int N, int H,
                           cudaStream_t stream) {
  const int64_t n = (int64_t)N * H;
  if (n > 0) lstm_unit_forward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(c, h, c_prev, x, cont, N, H);
}

void lstm_unit_backward_gpu(float* dc_prev, float* dx, const float* dc, const float* dh, const float* c_prev,
                            const float* x, const float* c, const float* cont, int N, int H, cudaStream_t stream) {
  const int64_t n = (int64_t)N * H;
  if (n > 0)
    lstm_unit_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(dc_prev, dx, dc, dh, c_prev, x, c, cont, N, H);
}
}  // namespace lrcn
