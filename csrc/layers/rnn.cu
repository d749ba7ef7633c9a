// The CUDA twins of rnn.cpp: the same driver, each loop a grid-stride kernel.
#include "layers/rnn.h"

#include "gemm.h"

namespace lrcn {
namespace {
__global__ void rnn_step_forward_kernel(float* z, float* hc_next, const float* b, const float* zs,
                                        const float* cont_next, int N, int H) {
  LRCN_KERNEL_LOOP(e, (int64_t)N * H) {
    z[e] = tanhf(z[e] + b[e % H] + (zs ? zs[e] : 0.f));
    if (hc_next) hc_next[e] = cont_next[e / H] * z[e];
  }
}

__global__ void rnn_step_backward_kernel(float* dz, const float* dh_next, const float* cont_next, const float* h,
                                         int N, int H) {
  LRCN_KERNEL_LOOP(e, (int64_t)N * H) {
    const float gate = cont_next ? cont_next[e / H] : 1.f;
    dz[e] = (dz[e] + gate * dh_next[e]) * (1.f - h[e] * h[e]);
  }
}

__global__ void rnn_output_forward_kernel(float* o, const float* b, int64_t n, int H) {
  LRCN_KERNEL_LOOP(e, n) o[e] = tanhf(o[e] + b[e % H]);
}

__global__ void rnn_output_backward_kernel(float* dzo, const float* do_, const float* o, int64_t n) {
  LRCN_KERNEL_LOOP(e, n) dzo[e] = do_[e] * (1.f - o[e] * o[e]);
}
}  // namespace

void rnn_forward_gpu(const RnnForward& p, cudaStream_t stream) {
  const int64_t NH = (int64_t)p.N * p.H, TNH = p.T * NH;
  if (NH == 0) return;
  gemm_gpu(false, true, p.T * p.N, p.H, p.D, 1.f, p.x, p.D, p.W_xh, p.D, 0.f, p.hs, p.H, stream);
  if (p.S > 0) gemm_gpu(false, true, p.N, p.H, p.S, 1.f, p.x_static, p.S, p.W_static, p.S, 0.f, p.static_z, p.H, stream);
  recurrent_gate_rows_gpu(p.hc, p.h_0, p.cont, p.N, p.H, stream);
  for (int t = 0; t < p.T; ++t) {
    const bool last = t == p.T - 1;
    gemm_gpu(false, true, p.N, p.H, p.H, 1.f, p.hc + t * NH, p.H, p.W_hh, p.H, 1.f, p.hs + t * NH, p.H, stream);
    rnn_step_forward_kernel<<<blocks_for(NH), kThreads, 0, stream>>>(
        p.hs + t * NH, last ? nullptr : p.hc + (t + 1) * NH, p.b_h, p.S > 0 ? p.static_z : nullptr,
        last ? nullptr : p.cont + (int64_t)(t + 1) * p.N, p.N, p.H);
  }
  LRCN_CUDA_CHECK(cudaMemcpyAsync(p.h_T, p.hs + (p.T - 1) * NH, NH * sizeof(float), cudaMemcpyDeviceToDevice, stream));
  gemm_gpu(false, true, p.T * p.N, p.H, p.H, 1.f, p.hs, p.H, p.W_ho, p.H, 0.f, p.o, p.H, stream);
  rnn_output_forward_kernel<<<blocks_for(TNH), kThreads, 0, stream>>>(p.o, p.b_o, TNH, p.H);
}

void rnn_backward_gpu(const RnnBackward& p, cudaStream_t stream) {
  const int64_t NH = (int64_t)p.N * p.H, TNH = p.T * NH;
  if (NH == 0) return;
  rnn_output_backward_kernel<<<blocks_for(TNH), kThreads, 0, stream>>>(p.dzo, p.do_, p.o, TNH);
  if (p.dW_ho) gemm_gpu(true, false, p.H, p.H, p.T * p.N, 1.f, p.dzo, p.H, p.hs, p.H, 1.f, p.dW_ho, p.H, stream);
  if (p.db_o) recurrent_colsum_gpu(p.db_o, p.dzo, p.T * p.N, p.H, true, stream);
  gemm_gpu(false, false, p.T * p.N, p.H, p.H, 1.f, p.dzo, p.H, p.W_ho, p.H, 0.f, p.dz, p.H, stream);
  if (p.dh_T) LRCN_CUDA_CHECK(cudaMemcpyAsync(p.dh_next, p.dh_T, NH * sizeof(float), cudaMemcpyDeviceToDevice, stream));
  else LRCN_CUDA_CHECK(cudaMemsetAsync(p.dh_next, 0, NH * sizeof(float), stream));
  for (int t = p.T - 1; t >= 0; --t) {
    rnn_step_backward_kernel<<<blocks_for(NH), kThreads, 0, stream>>>(
        p.dz + t * NH, p.dh_next, t == p.T - 1 ? nullptr : p.cont + (int64_t)(t + 1) * p.N, p.hs + t * NH, p.N, p.H);
    if (t > 0 || p.dh_0)
      gemm_gpu(false, false, p.N, p.H, p.H, 1.f, p.dz + t * NH, p.H, p.W_hh, p.H, 0.f, p.dh_next, p.H, stream);
  }
  if (p.dh_0) recurrent_gate_rows_gpu(p.dh_0, p.dh_next, p.cont, p.N, p.H, stream);
  recurrent_weight_backward_gpu(p.dx, p.dx_static, p.dW_xh, p.db_h, p.dW_static, p.dW_hh, p.dz_sum, p.dz, p.x,
                                p.x_static, p.hc, p.W_xh, p.W_static, p.T, p.N, p.D, p.S, p.H, p.H, stream);
}
}  // namespace lrcn
