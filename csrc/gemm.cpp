// CPU sgemm through OpenBLAS, resolved at run time so the wheel links against nothing: the
// scipy-openblas32 wheel (LP64) first, else the ILP64 copy bundled with numpy (ECOSYSTEM.md).
#include "gemm.h"

#include <dlfcn.h>

#include <algorithm>
#include <mutex>

namespace lrcn {
namespace {
enum { kRowMajor = 101, kNoTrans = 111, kTrans = 112 };
typedef void (*sgemm32_t)(int, int, int, int, int, int, float, const float*, int, const float*, int,
                          float, float*, int);
typedef void (*sgemm64_t)(int, int, int, long, long, long, float, const float*, long, const float*,
                          long, float, float*, long);
typedef void (*sgemv32_t)(int, int, int, int, float, const float*, int, const float*, int, float, float*,
                          int);
typedef void (*sgemv64_t)(int, int, long, long, float, const float*, long, const float*, long, float, float*,
                          long);
typedef void (*set_threads32_t)(int);
typedef void (*set_threads64_t)(long);
typedef int (*get_threads_t)();

sgemm32_t sgemm32 = nullptr;
sgemm64_t sgemm64 = nullptr;
sgemv32_t sgemv32 = nullptr;  // OpenBLAS's sgemm does not hand M = 1 or N = 1 to its gemv (3-7x slower)
sgemv64_t sgemv64 = nullptr;
set_threads32_t set_threads32 = nullptr;
set_threads64_t set_threads64 = nullptr;
get_threads_t get_threads = nullptr;
std::string library;
std::mutex init_mutex;
}  // namespace

void gemm_cpu_init(const std::string& path) {
  std::lock_guard<std::mutex> lock(init_mutex);
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) throw std::runtime_error("cannot load BLAS library " + path + ": " + dlerror());
  if (auto f = reinterpret_cast<sgemm32_t>(dlsym(handle, "scipy_cblas_sgemm"))) {
    sgemm32 = f;
    sgemm64 = nullptr;
    sgemv32 = reinterpret_cast<sgemv32_t>(dlsym(handle, "scipy_cblas_sgemv"));
    sgemv64 = nullptr;
    set_threads32 = reinterpret_cast<set_threads32_t>(dlsym(handle, "scipy_openblas_set_num_threads"));
    get_threads = reinterpret_cast<get_threads_t>(dlsym(handle, "scipy_openblas_get_num_threads"));
    library = path + " (scipy_cblas_sgemm, LP64)";
  } else if (auto g = reinterpret_cast<sgemm64_t>(dlsym(handle, "scipy_cblas_sgemm64_"))) {
    sgemm64 = g;
    sgemm32 = nullptr;
    sgemv64 = reinterpret_cast<sgemv64_t>(dlsym(handle, "scipy_cblas_sgemv64_"));
    sgemv32 = nullptr;
    set_threads64 =
        reinterpret_cast<set_threads64_t>(dlsym(handle, "scipy_openblas_set_num_threads64_"));
    get_threads = reinterpret_cast<get_threads_t>(dlsym(handle, "scipy_openblas_get_num_threads64_"));
    library = path + " (scipy_cblas_sgemm64_, ILP64)";
  } else {
    throw std::runtime_error("no scipy_cblas_sgemm[64_] symbol in " + path);
  }
}

std::string gemm_cpu_library() { return library; }

int gemm_cpu_get_threads() { return get_threads ? get_threads() : 1; }

void gemm_cpu_set_threads(int threads) {
  if (set_threads32) set_threads32(threads);
  if (set_threads64) set_threads64(threads);
}

void gemm_cpu(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
              const float* B, int ldb, float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {  // BLAS would still scale C by beta; keep that meaning explicitly.
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) C[(int64_t)i * ldc + j] = beta == 0.f ? 0.f : beta * C[(int64_t)i * ldc + j];
    return;
  }
  const int ta = trans_a ? kTrans : kNoTrans, tb = trans_b ? kTrans : kNoTrans;
  if ((M == 1 || N == 1) && (sgemv32 || sgemv64)) {
    // A matrix-vector product (a T=1 decoding step, an LSTM step at batch 1) through sgemv, y = op(mat) x:
    //   M = 1: c (1 x N) = a (1 x K) op(B), i.e. c = op(B)^T a, B stored K x N (no trans) or N x K;
    //   N = 1: c (M x 1) = op(A) b, A stored M x K (no trans) or K x M.
    // A vector's stride is 1 along a stored row, its leading dimension down a stored column.
    const bool row = M == 1;
    const float* mat = row ? B : A;
    const float* x = row ? A : B;
    const int ld = row ? ldb : lda;
    const bool mat_trans = row ? !trans_b : trans_a;
    const int rows = row ? (trans_b ? N : K) : (trans_a ? K : M);
    const int cols = row ? (trans_b ? K : N) : (trans_a ? M : K);
    const int incx = row ? (trans_a ? lda : 1) : (trans_b ? 1 : ldb);
    const int incy = row ? 1 : ldc, ny = row ? N : M;
    if (beta == 0.f)  // sgemv would scale y by 0, keeping a NaN or Inf already there; sgemm overwrites
      for (int i = 0; i < ny; ++i) C[(int64_t)i * incy] = 0.f;
    const int tm = mat_trans ? kTrans : kNoTrans;
    if (sgemv32)
      sgemv32(kRowMajor, tm, rows, cols, alpha, mat, ld, x, incx, beta, C, incy);
    else
      sgemv64(kRowMajor, tm, rows, cols, alpha, mat, ld, x, incx, beta, C, incy);
    return;
  }
  if (sgemm32)
    sgemm32(kRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  else if (sgemm64)
    sgemm64(kRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  else
    throw std::runtime_error("CPU BLAS not initialised (lrcn_native.backend loads it at import)");
}

GemmPlan gemm_plan(int M, int N, int K, int sms, bool alpha_zero) {
  auto tiles = [&](int64_t t) { return ((int64_t)M + t - 1) / t * (((int64_t)N + t - 1) / t); };
  if (tiles(128) >= sms) return {128, 1, K};
  if (tiles(64) >= sms) return {64, 1, K};
  // Up to two blocks per SM, at least 8 k-tiles of 16 per split, at most 16 splits.
  constexpr int kMinChunk = 128, kMaxSplits = 16;
  int64_t splits = (2 * (int64_t)sms + tiles(32) - 1) / tiles(32);
  splits = std::min<int64_t>({splits, kMaxSplits, (int64_t)K / kMinChunk});
  if (alpha_zero || splits < 2) return {32, 1, K};
  const int chunk = (int)(((K + splits - 1) / splits + 15) / 16 * 16);
  return {32, (int)((K + chunk - 1) / chunk), chunk};
}
}  // namespace lrcn
