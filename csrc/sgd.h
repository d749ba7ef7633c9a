// The solvers' parameter updates (Caffe's SGDSolver family): one fused pass over one learnable blob.
//
// Each element first gets its gradient as Caffe's ApplyUpdate forms it, in Caffe's order:
//   g = diff · clip · norm          clip: the global-norm clipping factor (1 when not clipping),
//                                   norm: 1/iter_size (each a separate float multiply, as in Caffe)
//   g += decay · w     (L2)         decay = weight_decay · decay_mult; skipped when 0
//   g += decay · sign(w) (L1)       sign(0) = 0
// then its type's history update and w −= u, leaving the update u in diff as Caffe does.
// rate = learning rate · lr_mult (Adam: times its bias correction √(1−β2^t)/(1−β1^t)):
//   SGD       h = momentum·h + rate·g                                   u = h
//   Nesterov  h' = momentum·h + rate·g                                  u = (1+momentum)·h' − momentum·h
//   AdaGrad   h = h + g²                                                u = rate · g/(√h + δ)
//   RMSProp   h = (1−ρ)·g² + ρ·h                                        u = rate · g/(√h + δ)
//   AdaDelta  h = (1−m)·g² + m·h;  s = g·√((h_u + δ)/(h + δ));  h_u = (1−m)·s² + m·h_u;   u = rate · s
//   Adam      m = (1−β1)·g + β1·m;  v = (1−β2)·g² + β2·v                u = rate · m/(√v + ε)
// The formulas are written once, below, as per-element steps that the CPU loop (sgd.cpp) and the CUDA
// kernel (sgd.cu) both call, so the two devices compute the same expressions. All arrays have n
// elements and are updated in place.
#pragma once
#include <cmath>

#include "common.h"


namespace lrcn {

// The gradient's scalars (first block above).
struct SgdGrad {
  float clip, norm, decay;
  bool l1;
};

inline LRCN_HD float sgd_gradient(float diff, float w, const SgdGrad& p) {
  float g = diff * p.clip * p.norm;
  if (p.decay != 0.f) g += p.decay * (p.l1 ? static_cast<float>((0.f < w) - (w < 0.f)) : w);
  return g;
}

// Per-element steps: given g at element i, update the history and return u.
struct SgdStep {
  float* h;
  float rate, momentum;
  LRCN_HD float operator()(float g, int64_t i) const {
    h[i] = rate * g + momentum * h[i];
    return h[i];
  }
};
struct NesterovStep {
  float* h;
  float rate, momentum;
  LRCN_HD float operator()(float g, int64_t i) const {
    const float old = h[i];
    h[i] = rate * g + momentum * old;
    return (1.f + momentum) * h[i] - momentum * old;
  }
};
struct AdaGradStep {
  float* h;
  float rate, delta;
  LRCN_HD float operator()(float g, int64_t i) const {
    h[i] = g * g + h[i];
    return rate * (g / (sqrtf(h[i]) + delta));
  }
};
struct RMSPropStep {
  float* h;
  float rate, rms_decay, delta;
  LRCN_HD float operator()(float g, int64_t i) const {
    h[i] = (1.f - rms_decay) * (g * g) + rms_decay * h[i];
    return rate * (g / (sqrtf(h[i]) + delta));
  }
};
struct AdaDeltaStep {
  float *h, *h_update;
  float rate, momentum, delta;
  LRCN_HD float operator()(float g, int64_t i) const {
    h[i] = (1.f - momentum) * (g * g) + momentum * h[i];
    const float s = g * sqrtf((h_update[i] + delta) / (h[i] + delta));
    h_update[i] = (1.f - momentum) * (s * s) + momentum * h_update[i];
    return rate * s;
  }
};
struct AdamStep {
  float *m, *v;
  float rate, beta1, beta2, eps;
  LRCN_HD float operator()(float g, int64_t i) const {
    m[i] = (1.f - beta1) * g + beta1 * m[i];
    v[i] = (1.f - beta2) * (g * g) + beta2 * v[i];
    return rate * (m[i] / (sqrtf(v[i]) + eps));
  }
};

void sgd_update_cpu(float* data, float* diff, float* history, int64_t n, SgdGrad grad, float rate, float momentum);
void nesterov_update_cpu(float* data, float* diff, float* history, int64_t n, SgdGrad grad, float rate,
                         float momentum);
void adagrad_update_cpu(float* data, float* diff, float* history, int64_t n, SgdGrad grad, float rate, float delta);
void rmsprop_update_cpu(float* data, float* diff, float* history, int64_t n, SgdGrad grad, float rate,
                        float rms_decay, float delta);
void adadelta_update_cpu(float* data, float* diff, float* history, float* update_history, int64_t n, SgdGrad grad,
                         float rate, float momentum, float delta);
void adam_update_cpu(float* data, float* diff, float* m, float* v, int64_t n, SgdGrad grad, float rate, float beta1,
                     float beta2, float eps);

void sgd_update_gpu(float* data, float* diff, float* history, int64_t n, SgdGrad grad, float rate, float momentum,
                    cudaStream_t stream);
void nesterov_update_gpu(float* data, float* diff, float* history, int64_t n, SgdGrad grad, float rate,
                         float momentum, cudaStream_t stream);
void adagrad_update_gpu(float* data, float* diff, float* history, int64_t n, SgdGrad grad, float rate, float delta,
                        cudaStream_t stream);
void rmsprop_update_gpu(float* data, float* diff, float* history, int64_t n, SgdGrad grad, float rate,
                        float rms_decay, float delta, cudaStream_t stream);
void adadelta_update_gpu(float* data, float* diff, float* history, float* update_history, int64_t n, SgdGrad grad,
                         float rate, float momentum, float delta, cudaStream_t stream);
void adam_update_gpu(float* data, float* diff, float* m, float* v, int64_t n, SgdGrad grad, float rate, float beta1,
                     float beta2, float eps, cudaStream_t stream);
}  // namespace lrcn
