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

void lstm_forward_gpu(const LstmForward& p, cudaStream_t stream) {
  const int G = 4 * p.H;
  const int64_t NH = (int64_t)p.N * p.H, NG = (int64_t)p.N * G;
  if (NH == 0) return;
  gemm_gpu(false, true, p.T * p.N, G, p.D, 1.f, p.x, p.D, p.W_xc, p.D, 0.f, p.gates, G, stream);
  const float* offset = p.b_c;
  int64_t offset_stride = 0;
  if (p.S > 0) {
    broadcast_rows_kernel<<<blocks_for(NG), kThreads, 0, stream>>>(p.static_gates, p.b_c, p.N, G);
    gemm_gpu(false, true, p.N, G, p.S, 1.f, p.x_static, p.S, p.W_static, p.S, 1.f, p.static_gates, G, stream);
    offset = p.static_gates, offset_stride = G;
  }
  recurrent_gate_rows_gpu(p.hc, p.h_0, p.cont, p.N, p.H, stream);
  for (int t = 0; t < p.T; ++t) {
    const bool last = t == p.T - 1;
    gemm_gpu(false, true, p.N, G, p.H, 1.f, p.hc + t * NH, p.H, p.W_hc, p.H, 1.f, p.gates + t * NG, G, stream);
    lstm_step_forward_kernel<<<blocks_for(NH), kThreads, 0, stream>>>(
        p.gates + t * NG, p.c + t * NH, p.h + t * NH, last ? nullptr : p.hc + (t + 1) * NH, t ? p.c + (t - 1) * NH : p.c_0,
        offset, offset_stride, p.cont + (int64_t)t * p.N, last ? nullptr : p.cont + (int64_t)(t + 1) * p.N, p.N, p.H);
  }
  LRCN_CUDA_CHECK(cudaMemcpyAsync(p.h_T, p.h + (p.T - 1) * NH, NH * sizeof(float), cudaMemcpyDeviceToDevice, stream));
  LRCN_CUDA_CHECK(cudaMemcpyAsync(p.c_T, p.c + (p.T - 1) * NH, NH * sizeof(float), cudaMemcpyDeviceToDevice, stream));
}

void lstm_backward_gpu(const LstmBackward& p, cudaStream_t stream) {
  const int G = 4 * p.H;
  const int64_t NH = (int64_t)p.N * p.H, NG = (int64_t)p.N * G;
  if (NH == 0) return;
  if (p.dh_T) LRCN_CUDA_CHECK(cudaMemcpyAsync(p.dh_next, p.dh_T, NH * sizeof(float), cudaMemcpyDeviceToDevice, stream));
  else LRCN_CUDA_CHECK(cudaMemsetAsync(p.dh_next, 0, NH * sizeof(float), stream));
  if (p.dc_T) LRCN_CUDA_CHECK(cudaMemcpyAsync(p.dc_next, p.dc_T, NH * sizeof(float), cudaMemcpyDeviceToDevice, stream));
  else LRCN_CUDA_CHECK(cudaMemsetAsync(p.dc_next, 0, NH * sizeof(float), stream));
  for (int t = p.T - 1; t >= 0; --t) {
    lstm_step_backward_kernel<<<blocks_for(NH), kThreads, 0, stream>>>(
        p.dgates + t * NG, p.dc_next, p.dh + t * NH, p.dh_next, t == p.T - 1 ? nullptr : p.cont + (int64_t)(t + 1) * p.N,
        p.gates + t * NG, p.c + t * NH, t ? p.c + (t - 1) * NH : p.c_0, p.cont + (int64_t)t * p.N, p.N, p.H);
    if (t > 0 || p.dh_0)
      gemm_gpu(false, false, p.N, p.H, G, 1.f, p.dgates + t * NG, G, p.W_hc, p.H, 0.f, p.dh_next, p.H, stream);
  }
  if (p.dh_0) recurrent_gate_rows_gpu(p.dh_0, p.dh_next, p.cont, p.N, p.H, stream);
  if (p.dc_0) LRCN_CUDA_CHECK(cudaMemcpyAsync(p.dc_0, p.dc_next, NH * sizeof(float), cudaMemcpyDeviceToDevice, stream));
  recurrent_weight_backward_gpu(p.dx, p.dx_static, p.dW_xc, p.db_c, p.dW_static, p.dW_hc, p.dgates_sum, p.dgates, p.x,
                                p.x_static, p.hc, p.W_xc, p.W_static, p.T, p.N, p.D, p.S, p.H, G, stream);
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
