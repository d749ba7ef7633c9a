#include "layers/eltwise.h"

namespace lrcn {
void eltwise_forward_cpu(float* top, float* mask, const float* const* bottoms, const float* coeff, int k, int64_t n,
                         int op) {
  const float *a = bottoms[0], *b = bottoms[1];
  switch (op) {
    case kEltwiseProd:
      for (int64_t e = 0; e < n; ++e) top[e] = a[e] * b[e];
      for (int j = 2; j < k; ++j)
        for (int64_t e = 0; e < n; ++e) top[e] *= bottoms[j][e];
      break;
    case kEltwiseSum:
      for (int64_t e = 0; e < n; ++e) top[e] = coeff[0] * a[e];
      for (int j = 1; j < k; ++j)
        for (int64_t e = 0; e < n; ++e) top[e] += coeff[j] * bottoms[j][e];
      break;
    case kEltwiseMax:
      for (int64_t e = 0; e < n; ++e) {
        const bool first = a[e] > b[e];
        top[e] = first ? a[e] : b[e];
        mask[e] = first ? 0.f : 1.f;
      }
      for (int j = 2; j < k; ++j)
        for (int64_t e = 0; e < n; ++e)
          if (bottoms[j][e] > top[e]) {
            top[e] = bottoms[j][e];
            mask[e] = static_cast<float>(j);
          }
      break;
  }
}

void eltwise_backward_cpu(float* bottom_diff, const float* top_diff, const float* top, const float* const* bottoms,
                          const float* mask, const float* coeff, int k, int i, int64_t n, int op,
                          bool stable_prod_grad) {
  switch (op) {
    case kEltwiseProd:
      if (stable_prod_grad) {
        const int first = i == 0 ? 1 : 0;  // the product of the other bottoms, in bottom order
        for (int64_t e = 0; e < n; ++e) bottom_diff[e] = bottoms[first][e];
        for (int j = first + 1; j < k; ++j)
          if (j != i)
            for (int64_t e = 0; e < n; ++e) bottom_diff[e] *= bottoms[j][e];
      } else {
        for (int64_t e = 0; e < n; ++e) bottom_diff[e] = top[e] / bottoms[i][e];
      }
      for (int64_t e = 0; e < n; ++e) bottom_diff[e] *= top_diff[e];
      break;
    case kEltwiseSum:
      for (int64_t e = 0; e < n; ++e) bottom_diff[e] = coeff[i] * top_diff[e];
      break;
    case kEltwiseMax:
      for (int64_t e = 0; e < n; ++e) bottom_diff[e] = mask[e] == static_cast<float>(i) ? top_diff[e] : 0.f;
      break;
  }
}
}  // namespace lrcn
