// Neuron layers: elementwise maps of n elements; in place (top == bottom) is allowed for all of them.
//
// Sigmoid: y = 1/(1 + e^(−x)), computed as Caffe does, 0.5·tanh(0.5·x) + 0.5 in double and rounded to
//   float. Backward reads the *top*: dx = dy · y·(1 − y), so it is correct in place.
// TanH:    y = tanh(x) (float); backward dx = dy · (1 − y²), again from the top.
// Dropout (inverted, at TRAIN): y = x · scale where element i is kept, else 0, scale = 1/(1 − p);
//   dx = dy · scale where kept, else 0. Element i is kept iff dropout_bits(seed, i) ≥ threshold with
//   threshold = floor(p · 2³²), so P(keep) = 1 − p. The mask is not stored: forward and backward
//   recompute it from (seed, i), identically on the CPU and the GPU (one seed per forward, drawn by the
//   Python layer from lrcn_native.mode.rng()). TEST is an identity handled by the layer (a copy).
#pragma once
#include "common.h"

namespace lrcn {
// Draw i of a SplitMix64 stream seeded with `seed` (Steele, Lea & Flood 2014; passes BigCrush):
// a counter-based generator, so element i's bits need no state and no storage. High 32 bits.
inline LRCN_HD uint32_t dropout_bits(uint64_t seed, uint64_t i) {
  uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return static_cast<uint32_t>((z ^ (z >> 31)) >> 32);
}

void sigmoid_forward_cpu(float* top, const float* bottom, int64_t n);
void sigmoid_backward_cpu(float* bottom_diff, const float* top_diff, const float* top, int64_t n);
void tanh_forward_cpu(float* top, const float* bottom, int64_t n);
void tanh_backward_cpu(float* bottom_diff, const float* top_diff, const float* top, int64_t n);
void dropout_forward_cpu(float* top, const float* bottom, int64_t n, uint64_t seed, uint32_t threshold, float scale);
void dropout_backward_cpu(float* bottom_diff, const float* top_diff, int64_t n, uint64_t seed, uint32_t threshold,
                          float scale);

void sigmoid_forward_gpu(float* top, const float* bottom, int64_t n, cudaStream_t stream);
void sigmoid_backward_gpu(float* bottom_diff, const float* top_diff, const float* top, int64_t n, cudaStream_t stream);
void tanh_forward_gpu(float* top, const float* bottom, int64_t n, cudaStream_t stream);
void tanh_backward_gpu(float* bottom_diff, const float* top_diff, const float* top, int64_t n, cudaStream_t stream);
void dropout_forward_gpu(float* top, const float* bottom, int64_t n, uint64_t seed, uint32_t threshold, float scale,
                         cudaStream_t stream);
void dropout_backward_gpu(float* bottom_diff, const float* top_diff, int64_t n, uint64_t seed, uint32_t threshold,
                          float scale, cudaStream_t stream);
}  // namespace lrcn
