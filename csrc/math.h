// Small vector helpers the layers and the solver share: y = a·x, y = a·x + b·y, fill, dot.
#pragma once
#include "common.h"

namespace lrcn {
void set_cpu(float* y, int64_t n, float value);
void axpby_cpu(float* y, const float* x, int64_t n, float a, float b);  // y = a·x + b·y (b=0: no read of y)
double dot_cpu(const float* x, const float* y, int64_t n);              // Σ x·y, accumulated in double

void set_gpu(float* y, int64_t n, float value, cudaStream_t stream);
void axpby_gpu(float* y, const float* x, int64_t n, float a, float b, cudaStream_t stream);
double dot_gpu(const float* x, const float* y, int64_t n, cudaStream_t stream);  // synchronises
}  // namespace lrcn
