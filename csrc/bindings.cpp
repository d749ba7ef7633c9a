// The one boundary between Python and the kernels. Compiled twice: as lrcn_native._C (CPU only) and,
// with LRCN_WITH_CUDA, as lrcn_native._cuda (CPU and GPU). Every function takes arrays that expose
// __array_interface__ (numpy, host) or __cuda_array_interface__ (cupy, device), checks dtype,
// contiguity, device and element counts here, once, then releases the GIL and calls the kernel chosen
// by the arrays' device. Kernels never see Python objects.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "common.h"
#include "gemm.h"
#include "math.h"
#include "layers/relu.h"
#include "sgd.h"

namespace py = pybind11;
using namespace lrcn;

// ---------------------------------------------------------------------------------------------
// Arr: a borrowed view of a numpy or cupy array.
struct Arr {
  void* ptr = nullptr;
  std::vector<int64_t> shape;
  int64_t count = 1;
  std::string typestr;  // "<f4", "<i4", ...
  bool gpu = false, readonly = false, contiguous = true;
};

namespace pybind11 {
namespace detail {
template <>
struct type_caster<Arr> {
  PYBIND11_TYPE_CASTER(Arr, const_name("ndarray"));
  bool load(handle src, bool) {
    object iface;
    if (hasattr(src, "__cuda_array_interface__")) {
      iface = src.attr("__cuda_array_interface__");
      value.gpu = true;
    } else if (hasattr(src, "__array_interface__")) {
      iface = src.attr("__array_interface__");
    } else {
      return false;
    }
    dict d = reinterpret_borrow<dict>(iface);
    value.typestr = d["typestr"].cast<std::string>();
    tuple data = d["data"].cast<tuple>();
    value.ptr = reinterpret_cast<void*>(data[0].cast<uintptr_t>());
    value.readonly = data[1].cast<bool>();
    value.shape = d["shape"].cast<std::vector<int64_t>>();
    value.count = 1;
    for (auto s : value.shape) value.count *= s;
    if (d.contains("strides") && !d["strides"].is_none() && value.count > 1) {
      auto strides = d["strides"].cast<std::vector<int64_t>>();
      int64_t expect = std::stoi(value.typestr.substr(2));
      for (int i = (int)value.shape.size() - 1; i >= 0; --i) {
        if (value.shape[i] != 1 && strides[i] != expect) value.contiguous = false;
        expect *= value.shape[i];
      }
    }
    return true;
  }
  static handle cast(const Arr&, return_value_policy, handle) { return none().release(); }
};
}  // namespace detail
}  // namespace pybind11

namespace {
std::string describe(const Arr& a) {
  std::string s = std::string(a.gpu ? "device" : "host") + " array " + a.typestr + " (";
  for (size_t i = 0; i < a.shape.size(); ++i) s += (i ? "x" : "") + std::to_string(a.shape[i]);
  return s + ")";
}

void check_array(const Arr& a, const char* fn, const char* name, const char* typestr) {
  if (a.typestr != typestr)
    throw std::invalid_argument(std::string(fn) + ": " + name + " must be " + typestr + ", got " + describe(a));
  if (!a.contiguous)
    throw std::invalid_argument(std::string(fn) + ": " + name + " must be C-contiguous, got " + describe(a));
}
float* F(const Arr& a, const char* fn, const char* name) {
  check_array(a, fn, name, "<f4");
  if (a.readonly) throw std::invalid_argument(std::string(fn) + ": " + name + " is read-only");
  return static_cast<float*>(a.ptr);
}
const float* CF(const Arr& a, const char* fn, const char* name) {
  check_array(a, fn, name, "<f4");
  return static_cast<const float*>(a.ptr);
}
void expect_count(const Arr& a, int64_t n, const char* fn, const char* name) {
  if (a.count != n)
    throw std::invalid_argument(std::string(fn) + ": " + name + " must have " + std::to_string(n) +
                                " elements, got " + describe(a));
}
// All arrays of one call live on one device; returns true for the GPU.
bool same_device(const char* fn, std::initializer_list<const Arr*> arrays) {
  const bool gpu = (*arrays.begin())->gpu;
  for (const Arr* a : arrays)
    if (a->gpu != gpu) throw std::invalid_argument(std::string(fn) + ": host and device arrays mixed");
  return gpu;
}
int to_int(int64_t v, const char* fn) {
  if (v > INT32_MAX || v < 0) throw std::invalid_argument(std::string(fn) + ": dimension exceeds int32");
  return static_cast<int>(v);
}

cudaStream_t g_stream = nullptr;  // cupy's current stream, set from Python (0 = legacy default)
}  // namespace

#ifdef LRCN_WITH_CUDA
#define LRCN_GPU(call)        \
  do {                        \
    call;                     \
    LRCN_CUDA_LAUNCH_CHECK(); \
  } while (0)
#define MODULE_NAME _cuda
#else
#define LRCN_GPU(call) throw std::runtime_error("lrcn_native._C was built without CUDA; GPU arrays need lrcn_native._cuda")
#define MODULE_NAME _C
#endif

PYBIND11_MODULE(MODULE_NAME, m) {
  m.doc() = "lrcn_native kernels (CPU; and CUDA in _cuda)";
#ifdef LRCN_WITH_CUDA
  m.attr("has_cuda") = true;
  m.def("set_stream", [](uintptr_t s) { g_stream = reinterpret_cast<cudaStream_t>(s); });
  m.def("device_count", [] {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      cudaGetLastError();
      return 0;
    }
    return n;
  });
  m.def("synchronize", [] { LRCN_CUDA_CHECK(cudaStreamSynchronize(g_stream)); });
#else
  m.attr("has_cuda") = false;
  m.def("set_stream", [](uintptr_t) {});
  m.def("device_count", [] { return 0; });
  m.def("synchronize", [] {});
#endif

  // ---- gemm ----------------------------------------------------------------------------------
  m.def("gemm_cpu_init", &gemm_cpu_init);
  m.def("gemm_cpu_library", &gemm_cpu_library);
  m.def("gemm_cpu_set_threads", &gemm_cpu_set_threads);
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
  });

  // ---- math ----------------------------------------------------------------------------------
  m.def("set", [](Arr y, float value) {
    float* p = F(y, "set", "y");
    py::gil_scoped_release nogil;
    if (y.gpu) LRCN_GPU(set_gpu(p, y.count, value, g_stream));
    else set_cpu(p, y.count, value);
  });
  m.def("axpby", [](Arr y, Arr x, float a, float b) {  // y = a·x + b·y
    const char* fn = "axpby";
    expect_count(y, x.count, fn, "y");
    const bool gpu = same_device(fn, {&y, &x});
    float* yp = F(y, fn, "y");
    const float* xp = CF(x, fn, "x");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(axpby_gpu(yp, xp, y.count, a, b, g_stream));
    else axpby_cpu(yp, xp, y.count, a, b);
  });
  m.def("dot", [](Arr x, Arr y) {
    const char* fn = "dot";
    expect_count(y, x.count, fn, "y");
    const bool gpu = same_device(fn, {&x, &y});
    const float *xp = CF(x, fn, "x"), *yp = CF(y, fn, "y");
    py::gil_scoped_release nogil;
    double r = 0;
    if (gpu) LRCN_GPU(r = dot_gpu(xp, yp, x.count, g_stream));
    else r = dot_cpu(xp, yp, x.count);
    return r;
  });

  // ---- relu ----------------------------------------------------------------------------------
  m.def("relu_forward", [](Arr top, Arr bottom, float negative_slope) {
    const char* fn = "relu_forward";
    expect_count(top, bottom.count, fn, "top");
    const bool gpu = same_device(fn, {&top, &bottom});
    float* t = F(top, fn, "top");
    const float* b = CF(bottom, fn, "bottom");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(relu_forward_gpu(t, b, bottom.count, negative_slope, g_stream));
    else relu_forward_cpu(t, b, bottom.count, negative_slope);
  });
  m.def("relu_backward", [](Arr bottom_diff, Arr top_diff, Arr bottom, float negative_slope) {
    const char* fn = "relu_backward";
    expect_count(bottom_diff, bottom.count, fn, "bottom_diff");
    expect_count(top_diff, bottom.count, fn, "top_diff");
    const bool gpu = same_device(fn, {&bottom_diff, &top_diff, &bottom});
    float* bd = F(bottom_diff, fn, "bottom_diff");
    const float *td = CF(top_diff, fn, "top_diff"), *b = CF(bottom, fn, "bottom");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(relu_backward_gpu(bd, td, b, bottom.count, negative_slope, g_stream));
    else relu_backward_cpu(bd, td, b, bottom.count, negative_slope);
  });

  // ---- conv ----------------------------------------------------------------------------------

  // ---- inner_product -------------------------------------------------------------------------

  // ---- pooling -------------------------------------------------------------------------------

  // ---- lrn -----------------------------------------------------------------------------------

  // ---- neuron (sigmoid, tanh, dropout) -------------------------------------------------------

  // ---- softmax, softmax_loss, accuracy -------------------------------------------------------

  // ---- concat, slice, eltwise ----------------------------------------------------------------

  // ---- embed ---------------------------------------------------------------------------------

  // ---- lstm, lstm_unit, rnn ------------------------------------------------------------------

  // ---- sgd -----------------------------------------------------------------------------------
  // One fused solver update of one parameter blob (csrc/sgd.h), in place on data, diff and the history
  // arrays. clip, norm, decay and l1 form the gradient as Caffe's ApplyUpdate does; rate is lr · lr_mult.
  auto sgd_check = [](const char* fn, std::initializer_list<std::pair<Arr*, const char*>> arrays) {
    const Arr& first = *arrays.begin()->first;
    for (const auto& [a, name] : arrays) {
      F(*a, fn, name);
      expect_count(*a, first.count, fn, name);
      if (a->gpu != first.gpu) throw std::invalid_argument(std::string(fn) + ": host and device arrays mixed");
    }
    return first.gpu;
  };
  auto fp = [](const Arr& a) { return static_cast<float*>(a.ptr); };
  m.def("sgd_update", [=](Arr data, Arr diff, Arr history, float clip, float norm, float decay, bool l1, float rate,
                          float momentum) {
    const bool gpu = sgd_check("sgd_update", {{&data, "data"}, {&diff, "diff"}, {&history, "history"}});
    const SgdGrad g{clip, norm, decay, l1};
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(sgd_update_gpu(fp(data), fp(diff), fp(history), data.count, g, rate, momentum, g_stream));
    else sgd_update_cpu(fp(data), fp(diff), fp(history), data.count, g, rate, momentum);
  });
  m.def("nesterov_update", [=](Arr data, Arr diff, Arr history, float clip, float norm, float decay, bool l1,
                               float rate, float momentum) {
    const bool gpu = sgd_check("nesterov_update", {{&data, "data"}, {&diff, "diff"}, {&history, "history"}});
    const SgdGrad g{clip, norm, decay, l1};
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(nesterov_update_gpu(fp(data), fp(diff), fp(history), data.count, g, rate, momentum, g_stream));
    else nesterov_update_cpu(fp(data), fp(diff), fp(history), data.count, g, rate, momentum);
  });
  m.def("adagrad_update", [=](Arr data, Arr diff, Arr history, float clip, float norm, float decay, bool l1,
                              float rate, float delta) {
    const bool gpu = sgd_check("adagrad_update", {{&data, "data"}, {&diff, "diff"}, {&history, "history"}});
    const SgdGrad g{clip, norm, decay, l1};
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(adagrad_update_gpu(fp(data), fp(diff), fp(history), data.count, g, rate, delta, g_stream));
    else adagrad_update_cpu(fp(data), fp(diff), fp(history), data.count, g, rate, delta);
  });
  m.def("rmsprop_update", [=](Arr data, Arr diff, Arr history, float clip, float norm, float decay, bool l1,
                              float rate, float rms_decay, float delta) {
    const bool gpu = sgd_check("rmsprop_update", {{&data, "data"}, {&diff, "diff"}, {&history, "history"}});
    const SgdGrad g{clip, norm, decay, l1};
    py::gil_scoped_release nogil;
    if (gpu)
      LRCN_GPU(rmsprop_update_gpu(fp(data), fp(diff), fp(history), data.count, g, rate, rms_decay, delta, g_stream));
    else rmsprop_update_cpu(fp(data), fp(diff), fp(history), data.count, g, rate, rms_decay, delta);
  });
  m.def("adadelta_update", [=](Arr data, Arr diff, Arr history, Arr update_history, float clip, float norm,
                               float decay, bool l1, float rate, float momentum, float delta) {
    const bool gpu = sgd_check("adadelta_update", {{&data, "data"}, {&diff, "diff"}, {&history, "history"},
                                                   {&update_history, "update_history"}});
    const SgdGrad g{clip, norm, decay, l1};
    py::gil_scoped_release nogil;
    if (gpu)
      LRCN_GPU(adadelta_update_gpu(fp(data), fp(diff), fp(history), fp(update_history), data.count, g, rate, momentum,
                                   delta, g_stream));
    else adadelta_update_cpu(fp(data), fp(diff), fp(history), fp(update_history), data.count, g, rate, momentum, delta);
  });
  m.def("adam_update", [=](Arr data, Arr diff, Arr m1, Arr m2, float clip, float norm, float decay, bool l1,
                           float rate, float beta1, float beta2, float eps) {
    const bool gpu = sgd_check("adam_update", {{&data, "data"}, {&diff, "diff"}, {&m1, "m"}, {&m2, "v"}});
    const SgdGrad g{clip, norm, decay, l1};
    py::gil_scoped_release nogil;
    if (gpu)
      LRCN_GPU(adam_update_gpu(fp(data), fp(diff), fp(m1), fp(m2), data.count, g, rate, beta1, beta2, eps, g_stream));
    else adam_update_cpu(fp(data), fp(diff), fp(m1), fp(m2), data.count, g, rate, beta1, beta2, eps);
  });
}
