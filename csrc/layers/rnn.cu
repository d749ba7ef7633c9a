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

void rnn_forward_gpu(float* o, float* hs, float* hc, float* h_T, float* static_z, const float* x, const float* cont,
                     const float* x_static, const float* h_0, const float* W_xh, const float* b_h,
                     const float* W_static, const float* W_hh, const float* W_ho, const float* b_o, int T, int N,
                     int D, int S, int H, cudaStream_t stream) {
  const int64_t NH = (int64_t)N * H, TNH = T * NH;
  if (NH == 0) return;
  gemm_gpu(false, true, T * N, H, D, 1.f, x, D, W_xh, D, 0.f, hs, H, stream);
  if (S > 0) gemm_gpu(false, true, N, H, S, 1.f, x_static, S, W_static, S, 0.f, static_z, H, stream);
  recurrent_gate_rows_gpu(hc, h_0, cont, N, H, stream);
  for (int t = 0; t < T; ++t) {
    const bool last = t == T - 1;
    gemm_gpu(false, true, N, H, H, 1.f, hc + t * NH, H, W_hh, H, 1.f, hs + t * NH, H, stream);
    rnn_step_forward_kernel<<<blocks_for(NH), kThreads, 0, stream>>>(
        hs + t * NH, last ? nullptr : hc + (t + 1) * NH, b_h, S > 0 ? static_z : nullptr,
        last ? nullptr : cont + (int64_t)(t + 1) * N, N, H);
  }
  LRCN_CUDA_CHECK(cudaMemcpyAsync(h_T, hs + (T - 1) * NH, NH * sizeof(float), cudaMemcpyDeviceToDevice, stream));
  gemm_gpu(false, true, T * N, H, H, 1.f, hs, H, W_ho, H, 0.f, o, H, stream);
  rnn_output_forward_kernel<<<blocks_for(TNH), kThreads, 0, stream>>>(o, b_o, TNH, H);
}

void rnn_backward_gpu(float* dx, float* dx_static, float* dh_0, float* dW_xh, float* db_h, float* dW_static,
                      float* dW_hh, float* dW_ho, float* db_o, float* dzo, float* dz, float* dz_sum, float* dh_next,
                      const float* do_, const float* dh_T, const float* o, const float* hs, const float* hc,
                      const float* x, const float* cont, const float* x_static, const float* W_xh,
                      const float* W_static, const float* W_hh, const float* W_ho, int T, int N, int D, int S, int H,
                      cudaStream_t stream) {
  const int64_t NH = (int64_t)N * H, TNH = T * NH;
  if (NH == 0) return;
  rnn_output_backward_kernel<<<blocks_for(TNH), kThreads, 0, stream>>>(dzo, do_, o, TNH);
  if (dW_ho) gemm_gpu(true, false, H, H, T * N, 1.f, dzo, H, hs, H, 1.f, dW_ho, H, stream);
  if (db_o) recurrent_colsum_gpu(db_o, dzo, T * N, H, true, stream);
  gemm_gpu(false, false, T * N, H, H, 1.f, dzo, H, W_ho, H, 0.f, dz, H, stream);
  if (dh_T) LRCN_CUDA_CHECK(cudaMemcpyAsync(dh_next, dh_T, NH * sizeof(float), cudaMemcpyDeviceToDevice, stream));
  else LRCN_CUDA_CHECK(cudaMemsetAsync(dh_next, 0, NH * sizeof(float), stream));
  for (int t = T - 1; t >= 0; --t) {
    rnn_step_backward_kernel<<<blocks_for(NH), kThreads, 0, stream>>>(
        dz + t * NH, dh_next, t == T - 1 ? nullptr : cont + (int64_t)(t + 1) * N, hs + t * NH, N, H);
    if (t > 0 || dh_0) gemm_gpu(false, false, N, H, H, 1.f, dz + t * NH, H, W_hh, H, 0.f, dh_next, H, stream);
  }
  if (dh_0) recurrent_gate_rows_gpu(dh_0, dh_next, cont, N, H, stream);
  recurrent_weight_backward_gpu(dx, dx_static, dW_xh, db_h, dW_static, dW_hh, dz_sum, dz, x, x_static, hc, W_xh,
                                W_static, T, N, D, S, H, H, stream);
}
}  // namespace lrcn
