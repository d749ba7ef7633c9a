#include "sgd.h"

namespace lrcn {
namespace {
// The fused pass: g from diff and w, u from the type's step, then w −= u and diff = u (Caffe leaves the
// update in diff).
template <class Step>
void update_cpu(float* data, float* diff, int64_t n, SgdGrad grad, Step step) {
#pragma omp parallel for simd if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const float u = step(sgd_gradient(diff[i], data[i], grad), i);
    diff[i] = u;
    data[i] -= u;
  }
}
}  // namespace

void sgd_update_cpu(float* data, float* diff, float* history, int64_t n, SgdGrad grad, float rate, float momentum) {
  update_cpu(data, diff, n, grad, SgdStep{history, rate, momentum});
}
void nesterov_update_cpu(float* data, float* diff, float* history, int64_t n, SgdGrad grad, float rate,
                         float momentum) {
  update_cpu(data, diff, n, grad, NesterovStep{history, rate, momentum});
}
void adagrad_update_cpu(float* data, float* diff, float* history, int64_t n, SgdGrad grad, float rate, float delta) {
  update_cpu(data, diff, n, grad, AdaGradStep{history, rate, delta});
}
void rmsprop_update_cpu(float* data, float* diff, float* history, int64_t n, SgdGrad grad, float rate,
                        float rms_decay, float delta) {
  update_cpu(data, diff, n, grad, RMSPropStep{history, rate, rms_decay, delta});
}
void adadelta_update_cpu(float* data, float* diff, float* history, float* update_history, int64_t n, SgdGrad grad,
                         float rate, float momentum, float delta) {
  update_cpu(data, diff, n, grad, AdaDeltaStep{history, update_history, rate, momentum, delta});
}
void adam_update_cpu(float* data, float* diff, float* m, float* v, int64_t n, SgdGrad grad, float rate, float beta1,
                     float beta2, float eps) {
  update_cpu(data, diff, n, grad, AdamStep{m, v, rate, beta1, beta2, eps});
}
}  // namespace lrcn
