// Bindings of sgemm on whole row-major matrices.
#include "bind/common.h"
#include "gemm.h"

namespace lrcn::bind {

void bind_gemm(py::module_& m) {
  m.def("gemm_cpu_init", &gemm_cpu_init, py::arg("path"));
  m.def("gemm_cpu_library", &gemm_cpu_library);
  m.def("gemm_cpu_set_threads", &gemm_cpu_set_threads, py::arg("threads"));
  // The GPU's plan for an M×N×K product on `sms` multiprocessors (gemm.h): (tile, splits, chunk).
  m.def("gemm_plan", [](int M, int N, int K, int sms, float alpha) {
    if (M <= 0 || N <= 0 || K < 0 || sms <= 0) throw std::invalid_argument("gemm_plan: sizes must be positive");
    const GemmPlan p = gemm_plan(M, N, K, sms, alpha == 0.f);
    return py::make_tuple(p.tile, p.splits, p.chunk);
  }, py::arg("M"), py::arg("N"), py::arg("K"), py::arg("sms"), py::arg("alpha") = 1.0f);
  // C (M×N) = alpha · op(A) · op(B) + beta · C on whole row-major matrices (A is M×K or K×M).
  m.def("gemm", [](bool trans_a, bool trans_b, float alpha, Arr A, Arr B, float beta, Arr C) {
    const char* fn = "gemm";
    if (A.shape.size() != 2 || B.shape.size() != 2 || C.shape.size() != 2)
      throw std::invalid_argument("gemm: A, B and C must be 2-D");
    const int64_t M = trans_a ? A.shape[1] : A.shape[0], K = trans_a ? A.shape[0] : A.shape[1];
    const int64_t KB = trans_b ? B.shape[1] : B.shape[0], N = trans_b ? B.shape[0] : B.shape[1];
    if (K != KB || C.shape[0] != M || C.shape[1] != N)
      throw std::invalid_argument("gemm: shapes do not agree: " + describe(A) + ", " + describe(B) + ", " + describe(C));
    const bool gpu = same_device(fn, {&A, &B, &C});
    const float *a = CF(A, fn, "A"), *b = CF(B, fn, "B");
    float* c = F(C, fn, "C");
    const int m_ = to_int(M, fn), n_ = to_int(N, fn), k_ = to_int(K, fn);
    const int lda = to_int(A.shape[1], fn), ldb = to_int(B.shape[1], fn);
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(gemm_gpu(trans_a, trans_b, m_, n_, k_, alpha, a, lda, b, ldb, beta, c, n_, g_stream));
    else gemm_cpu(trans_a, trans_b, m_, n_, k_, alpha, a, lda, b, ldb, beta, c, n_);
  }, py::arg("trans_a"), py::arg("trans_b"), py::arg("alpha"), py::arg("A"), py::arg("B"), py::arg("beta"),
        py::arg("C"));
}

}  // namespace lrcn::bind
