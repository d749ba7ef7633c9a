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

}  // namespace lrcn
