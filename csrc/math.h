// Small vector helpers the layers and the solver share: y = a·x, y = a·x + b·y, fill, dot, and Σ dot over
// many pairs of arrays (the solver's Σ diff² over all parameters: one number, one copy to the host).
#pragma once
#include "common.h"

namespace lrcn {
void set_cpu(float* y, int64_t n, float value);
void axpby_cpu(float* y, const float* x, int64_t n, float a, float b);  // y = a·x + b·y (b=0: no read of y)
double dot_cpu(const float* x, const float* y, int64_t n);              // Σ x·y, accumulated in double

void set_gpu(float* y, int64_t n, float value, cudaStream_t stream);
void axpby_gpu(float* y, const float* x, int64_t n, float a, float b, cudaStream_t stream);
// Σ_i Σ x_i·y_i over `count` pairs of n_i elements, in double, in a fixed order (per pair: fixed block
// partials; then one block sums all partials): deterministic. Synchronises to return the number.
double dot_many_gpu(const float* const* x, const float* const* y, const int64_t* n, int count, cudaStream_t stream);
}  // namespace lrcn
