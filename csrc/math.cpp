#include "math.h"

namespace lrcn {
void set_cpu(float* y, int64_t n, float value) {
#pragma omp parallel for simd if (n > 65536)
  for (int64_t i = 0; i < n; ++i) y[i] = value;
}

void axpby_cpu(float* y, const float* x, int64_t n, float a, float b) {
  if (b == 0.f) {
#pragma omp parallel for simd if (n > 65536)
    for (int64_t i = 0; i < n; ++i) y[i] = a * x[i];
  } else {
#pragma omp parallel for simd if (n > 65536)
    for (int64_t i = 0; i < n; ++i) y[i] = a * x[i] + b * y[i];
  }
}

double dot_cpu(const float* x, const float* y, int64_t n) {
  double s = 0;
#pragma omp parallel for reduction(+ : s) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) s += (double)x[i] * y[i];
  return s;
}
}  // namespace lrcn
