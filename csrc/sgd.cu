#include "sgd.h"

namespace lrcn {
namespace {
// The CPU loop of sgd.cpp as a grid-stride kernel; the step functors are the same code.
template <class Step>
__global__ void update_kernel(float* data, float* diff, int64_t n, SgdGrad grad, Step step) {
  LRCN_KERNEL_LOOP(i, n) {
    const float u = step(sgd_gradient(diff[i], data[i], grad), i);
    diff[i] = u;
    data[i] -= u;
  }
}

template <class Step>
void update_gpu(float* data, float* diff, int64_t n, SgdGrad grad, Step step, cudaStream_t stream) {
  if (n > 0) update_kernel<<<blocks_for(n), kThreads, 0, stream>>>(data, diff, n, grad, step);
}
}  // namespace

void sgd_update_gpu(float* data, float* diff, float* history, int64_t n, SgdGrad grad, float rate, float momentum,
                    cudaStream_t stream) {
  update_gpu(data, diff, n, grad, SgdStep{history, rate, momentum}, stream);
}
void nesterov_update_gpu(float* data, float* diff, float* history, int64_t n, SgdGrad grad, float rate,
                         float momentum, cudaStream_t stream) {
  update_gpu(data, diff, n, grad, NesterovStep{history, rate, momentum}, stream);
}
void adagrad_update_gpu(float* data, float* diff, float* history, int64_t n, SgdGrad grad, float rate, float delta,
                        cudaStream_t stream) {
  update_gpu(data, diff, n, grad, AdaGradStep{history, rate, delta}, stream);
}
void rmsprop_update_gpu(float* data, float* diff, float* history, int64_t n, SgdGrad grad, float rate,
                        float rms_decay, float delta, cudaStream_t stream) {
  update_gpu(data, diff, n, grad, RMSPropStep{history, rate, rms_decay, delta}, stream);
}
void adadelta_update_gpu(float* data, float* diff, float* history, float* update_history, int64_t n, SgdGrad grad,
                         float rate, float momentum, float delta, cudaStream_t stream) {
  update_gpu(data, diff, n, grad, AdaDeltaStep{history, update_history, rate, momentum, delta}, stream);
}
void adam_update_gpu(float* data, float* diff, float* m, float* v, int64_t n, SgdGrad grad, float rate, float beta1,
                     float beta2, float eps, cudaStream_t stream) {
  update_gpu(data, diff, n, grad, AdamStep{m, v, rate, beta1, beta2, eps}, stream);
}
}  // namespace lrcn
