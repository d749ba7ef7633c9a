// Caffe's parameterised one-in, one-out "neuron" layers that have no state: AbsVal, BNLL, ELU, Exp, Log,
// Power, Threshold (lrcn_native/layers/pointwise.py). Each op's formula is written once below and called by
// the CPU loop and the CUDA kernel. p0..p2 are the op's constants, precomputed on the host as Caffe does:
//   ABSVAL    y = |x|                                   dx = dy·sign(x)            (sign(0) = 0)
//   BNLL      y = log(1 + e^x), as x + log(1 + e^−x) for x > 0    dx = dy·e/(1 + e), e = exp(min(x, 50))
//   ELU       y = x > 0 ? x : p0·(e^x − 1)              dx = dy·(x > 0 ? 1 : y + p0)       p0 = alpha
//   EXP       y = p1·e^(p0·x)                           dx = dy·y·p0    p0 = scale·ln(base), p1 = base^shift
//   LOG       y = p2·ln(p0·x + p1)                      dx = dy·p0·p2/(p0·x + p1)   p0 = scale, p1 = shift,
//                                                                                   p2 = 1/ln(base)
//   POWER     y = (p2 + p1·x)^p0                        Caffe's cases: p0·p1 = 0 → y = p0 = 0 ? 1 : p2^p0,
//             (p0 = power, p1 = scale, p2 = shift)      dx = 0; p0 = 1 → dx = dy·p1; p0 = 2 →
//                                                       dx = dy·2·p1·(p2 + p1·x); p2 = 0 → dx = dy·p0·y/x;
//                                                       else dx = dy·p0·p1·y/(p2 + p1·x)
//   THRESHOLD y = x > p0 ? 1 : 0                        (no backward)
// bottom/top/diffs: n elements. Forward may run in place (top == bottom); backward reads x and y.
#pragma once
#include <cmath>

#include "common.h"

namespace lrcn {
enum PointwiseOp { ABSVAL = 0, BNLL = 1, ELU = 2, EXP = 3, LOG = 4, POWER = 5, THRESHOLD = 6 };

LRCN_HD inline float pointwise_forward_one(int op, float x, float p0, float p1, float p2) {
  switch (op) {
    case ABSVAL: return fabsf(x);
    case BNLL: return x > 0.f ? x + log1pf(expf(-x)) : log1pf(expf(x));
    case ELU: return x > 0.f ? x : p0 * (expf(x) - 1.f);
    case EXP: return p1 * expf(p0 * x);
    case LOG: return p2 * logf(p0 * x + p1);
    case POWER:
      if (p0 * p1 == 0.f) return p0 == 0.f ? 1.f : powf(p2, p0);
      return p0 == 1.f ? p2 + p1 * x : powf(p2 + p1 * x, p0);
    default: return x > p0 ? 1.f : 0.f;  // THRESHOLD
  }
}

// d top / d bottom at x (y: the top there), times dy.
LRCN_HD inline float pointwise_backward_one(int op, float dy, float x, float y, float p0, float p1, float p2) {
  switch (op) {
    case ABSVAL: return dy * (float)((x > 0.f) - (x < 0.f));
    case BNLL: {
      const float e = expf(fminf(x, 50.f));
      return dy * e / (e + 1.f);
    }
    case ELU: return dy * (x > 0.f ? 1.f : y + p0);
    case EXP: return dy * y * p0;
    case LOG: return dy * p0 * p2 / (p0 * x + p1);
    case POWER:
      if (p0 * p1 == 0.f) return 0.f;
      if (p0 == 1.f) return dy * p1;
      if (p0 == 2.f) return dy * 2.f * p1 * (p2 + p1 * x);
      if (p2 == 0.f) return dy * p0 * y / x;
      return dy * p0 * p1 * y / (p2 + p1 * x);
    default: return 0.f;  // THRESHOLD has no gradient (the layer refuses backward)
  }
}

void pointwise_forward_cpu(float* top, const float* bottom, int64_t n, int op, float p0, float p1, float p2);
void pointwise_backward_cpu(float* bottom_diff, const float* top_diff, const float* bottom, const float* top,
                            int64_t n, int op, float p0, float p1, float p2);
void pointwise_forward_gpu(float* top, const float* bottom, int64_t n, int op, float p0, float p1, float p2,
                           cudaStream_t stream);
void pointwise_backward_gpu(float* bottom_diff, const float* top_diff, const float* bottom, const float* top,
                            int64_t n, int op, float p0, float p1, float p2, cudaStream_t stream);
}  // namespace lrcn
