#include "layers/pointwise.h"

namespace lrcn {
void pointwise_forward_cpu(float* top, const float* bottom, int64_t n, int op, float p0, float p1, float p2) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) top[i] = pointwise_forward_one(op, bottom[i], p0, p1, p2);
}

void pointwise_backward_cpu(float* bottom_diff, const float* top_diff, const float* bottom, const float* top,
                            int64_t n, int op, float p0, float p1, float p2) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i)
    bottom_diff[i] = pointwise_backward_one(op, top_diff[i], bottom[i], top[i], p0, p1, p2);
}
}  // namespace lrcn
