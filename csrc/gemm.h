// Single-precision GEMM, row-major, Caffe's convention:
//   C (M×N) = alpha · op(A) · op(B) + beta · C,  op(A) is M×K, op(B) is K×N,
//   lda/ldb/ldc are the row strides of A, B, C as stored (A is M×K or, transposed, K×M).
// CPU: an OpenBLAS found at import time (gemm_cpu_init). GPU: our own tiled SGEMM (gemm.cu).
#pragma once
#include <string>
#include "common.h"

namespace lrcn {

// Loads `path` with dlopen and resolves cblas_sgemm (LP64 scipy_cblas_sgemm or the ILP64
// scipy_cblas_sgemm64_ that numpy's wheel bundles). Throws if neither symbol exists.
void gemm_cpu_init(const std::string& path);
std::string gemm_cpu_library();          // which library and symbol are in use ("" before init)
void gemm_cpu_set_threads(int threads);  // OpenBLAS's own thread count
int gemm_cpu_get_threads();              // (1 before init)

void gemm_cpu(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
              const float* B, int ldb, float beta, float* C, int ldc);

void gemm_gpu(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
              const float* B, int ldb, float beta, float* C, int ldc, cudaStream_t stream);

// How gemm_gpu runs a product on a GPU with `sms` multiprocessors (host logic, unit-tested on the CPU):
// the block tile (tile × tile), and for skinny products whose smallest tiles still leave SMs idle (conv
// weight gradients: hybrid conv1 is 96×147×271k, 15 tiles; the LSTM's per-step data gradient 24×256×1024,
// 8 tiles) a deterministic split-K: split s computes the partial product over k in [s·chunk, min(K,
// (s+1)·chunk)) into its own M×N workspace slice, then one kernel sums the slices in order s = 0, 1, ...
// and applies alpha and beta. chunk is a multiple of 16 (the tiles' BK), every split is non-empty.
struct GemmPlan {
  int tile;    // 128, 64 or 32
  int splits;  // 1: no split
  int chunk;   // k per split (K when splits == 1)
};
GemmPlan gemm_plan(int M, int N, int K, int sms, bool alpha_zero);

}  // namespace lrcn
