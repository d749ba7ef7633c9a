// The one boundary between Python and the kernels. Compiled twice: as lrcn_native._C (CPU only) and,
// with LRCN_WITH_CUDA, as lrcn_native._cuda (CPU and GPU). Every function takes arrays that expose
// the buffer protocol (numpy, host) or __cuda_array_interface__ (cupy, device), checks dtype,
// contiguity, device and element counts here, once, then releases the GIL and calls the kernel chosen
// by the arrays' device. Kernels never see Python objects.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "common.h"
#include "gemm.h"
#include "math.h"
#include "layers/relu.h"
#include "sgd.h"
#include "layers/accuracy.h"
#include "layers/concat.h"
#include "layers/conv.h"
#include "layers/eltwise.h"
#include "layers/embed.h"
#include "layers/lrn.h"
#include "layers/lstm.h"
#include "layers/neuron.h"
#include "layers/pooling.h"
#include "layers/rnn.h"
#include "layers/softmax.h"
#include "layers/softmax_loss.h"

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
    // Host arrays through the buffer protocol (~10× cheaper than reading __array_interface__'s dict);
    // device arrays (cupy) have no buffer and come through __cuda_array_interface__.
    if (PyObject_CheckBuffer(src.ptr())) return load_buffer(src);
    if (!hasattr(src, "__cuda_array_interface__")) return false;
    value.gpu = true;
    dict d = src.attr("__cuda_array_interface__");
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
  bool load_buffer(handle src) {
    Py_buffer view;
    if (PyObject_GetBuffer(src.ptr(), &view, PyBUF_RECORDS_RO) != 0) {
      PyErr_Clear();
      return false;
    }
    // The pointer stays valid after the release: the caller holds the array for the whole call.
    value.ptr = view.buf;
    value.readonly = view.readonly;
    value.typestr = typestr(view.format, view.itemsize);
    value.shape.assign(view.shape, view.shape + view.ndim);
    value.count = 1;
    for (auto s : value.shape) value.count *= s;
    int64_t expect = view.itemsize;
    for (int i = view.ndim - 1; i >= 0 && value.count > 1; --i) {
      if (view.shape[i] != 1 && view.strides[i] != expect) value.contiguous = false;
      expect *= view.shape[i];
    }
    PyBuffer_Release(&view);
    return true;
  }
  // numpy's typestr ("<f4", "<i4", "|u1", ...) of a buffer's struct format, for the checks and messages.
  static std::string typestr(const char* format, Py_ssize_t itemsize) {
    if (!format) format = "B";
    const bool big = *format == '>' || *format == '!';
    while (std::strchr("@=<>!", *format) && *format) ++format;
    const char f = *format;
    const char kind = f == 'f' || f == 'd' || f == 'e' ? 'f' : f == '?' ? 'b'
                      : std::strchr("bhilqn", f)  ? 'i' : std::strchr("BHILQN", f) ? 'u' : 'V';
    return std::string(itemsize == 1 ? "|" : big ? ">" : "<") + kind + std::to_string(itemsize);
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

// An elementwise layer's arrays, checked: forward (top, bottom) and backward (bottom_diff, top_diff, x),
// where x is the bottom (ReLU) or the top (Sigmoid, TanH); n elements each, one device.
struct Elementwise {
  float* out;
  const float *a, *b;
  int64_t n;
  bool gpu;
};
Elementwise elementwise_forward(const char* fn, const Arr& top, const Arr& bottom) {
  expect_count(top, bottom.count, fn, "top");
  const bool gpu = same_device(fn, {&top, &bottom});
  return {F(top, fn, "top"), CF(bottom, fn, "bottom"), nullptr, bottom.count, gpu};
}
Elementwise elementwise_backward(const char* fn, const Arr& bottom_diff, const Arr& top_diff, const Arr& x,
                                 const char* x_name) {
  expect_count(bottom_diff, x.count, fn, "bottom_diff");
  expect_count(top_diff, x.count, fn, "top_diff");
  const bool gpu = same_device(fn, {&bottom_diff, &top_diff, &x});
  return {F(bottom_diff, fn, "bottom_diff"), CF(top_diff, fn, "top_diff"), CF(x, fn, x_name), x.count, gpu};
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
    const Elementwise e = elementwise_forward("relu_forward", top, bottom);
    py::gil_scoped_release nogil;
    if (e.gpu) LRCN_GPU(relu_forward_gpu(e.out, e.a, e.n, negative_slope, g_stream));
    else relu_forward_cpu(e.out, e.a, e.n, negative_slope);
  });
  m.def("relu_backward", [](Arr bottom_diff, Arr top_diff, Arr bottom, float negative_slope) {
    const Elementwise e = elementwise_backward("relu_backward", bottom_diff, top_diff, bottom, "bottom");
    py::gil_scoped_release nogil;
    if (e.gpu) LRCN_GPU(relu_backward_gpu(e.out, e.a, e.b, e.n, negative_slope, g_stream));
    else relu_backward_cpu(e.out, e.a, e.b, e.n, negative_slope);
  });

  // ---- conv ----------------------------------------------------------------------------------
  // geom = [kernel_h, kernel_w, pad_h, pad_w, stride_h, stride_w, dilation_h, dilation_w, group];
  // bottom N×C×H×W, weight M×(C/group)×kh×kw, top N×M×Ho×Wo (4-D views: the layer folds the axes
  // before its channel axis into N). scratch: the GPU's column buffer, at least one frame
  // (conv_gpu_scratch_per_frame); None on the CPU, whose threads allocate their own columns.
  auto conv_geom = [](const char* fn, const Arr& top, const Arr& bottom, const Arr& weight,
                      const std::vector<int>& p, const std::optional<Arr>& scratch, bool gpu) {
    auto fail = [fn](const std::string& msg) { throw std::invalid_argument(std::string(fn) + ": " + msg); };
    if (p.size() != 9) fail("geom must be [kh, kw, ph, pw, sh, sw, dh, dw, group]");
    if (bottom.shape.size() != 4 || top.shape.size() != 4 || weight.shape.size() != 4)
      fail("bottom, top and weight must be 4-D, got " + describe(bottom) + ", " + describe(top) + ", " +
           describe(weight));
    ConvGeom g;
    g.N = to_int(bottom.shape[0], fn), g.C = to_int(bottom.shape[1], fn);
    g.H = to_int(bottom.shape[2], fn), g.W = to_int(bottom.shape[3], fn);
    g.M = to_int(weight.shape[0], fn);
    g.kh = p[0], g.kw = p[1], g.ph = p[2], g.pw = p[3], g.sh = p[4], g.sw = p[5], g.dh = p[6], g.dw = p[7];
    g.group = p[8];
    if (g.kh <= 0 || g.kw <= 0 || g.sh <= 0 || g.sw <= 0 || g.dh <= 0 || g.dw <= 0 || g.ph < 0 || g.pw < 0)
      fail("kernel, stride and dilation must be positive and pad non-negative");
    if (g.group <= 0 || g.C % g.group || g.M % g.group) fail("group must divide channels and num_output");
    if (weight.shape[1] != g.C / g.group || weight.shape[2] != g.kh || weight.shape[3] != g.kw)
      fail("weight " + describe(weight) + " does not match the channels, group and kernel");
    const int64_t eh = (int64_t)g.H + 2 * g.ph - ((int64_t)g.dh * (g.kh - 1) + 1);
    const int64_t ew = (int64_t)g.W + 2 * g.pw - ((int64_t)g.dw * (g.kw - 1) + 1);
    if (eh < 0 || ew < 0) fail("the dilated kernel is larger than the padded input " + describe(bottom));
    g.Ho = to_int(eh / g.sh + 1, fn), g.Wo = to_int(ew / g.sw + 1, fn);
    if (top.shape[0] != g.N || top.shape[1] != g.M || top.shape[2] != g.Ho || top.shape[3] != g.Wo)
      fail("top " + describe(top) + " must be " + std::to_string(g.N) + "x" + std::to_string(g.M) + "x" +
           std::to_string(g.Ho) + "x" + std::to_string(g.Wo));
    if (gpu && (!scratch || scratch->count < conv_gpu_scratch_per_frame(g)))
      fail("the GPU needs a scratch array of at least " + std::to_string(conv_gpu_scratch_per_frame(g)) +
           " floats" + (scratch ? ", got " + describe(*scratch) : std::string()));
    if (!gpu && scratch) fail("scratch is for the GPU only (pass None)");
    return g;
  };
  // Optional arrays must live where the others do.
  auto conv_device = [](const char* fn, std::initializer_list<const Arr*> required,
                        std::initializer_list<const std::optional<Arr>*> optional) {
    const bool gpu = same_device(fn, required);
    for (auto* o : optional)
      if (*o && (*o)->gpu != gpu) throw std::invalid_argument(std::string(fn) + ": host and device arrays mixed");
    return gpu;
  };
  m.def("conv_forward", [conv_geom, conv_device](Arr top, Arr bottom, Arr weight, std::optional<Arr> bias,
                                                 std::optional<Arr> scratch, std::vector<int> geom) {
    const char* fn = "conv_forward";
    const bool gpu = conv_device(fn, {&top, &bottom, &weight}, {&bias, &scratch});
    const ConvGeom g = conv_geom(fn, top, bottom, weight, geom, scratch, gpu);
    if (bias) expect_count(*bias, g.M, fn, "bias");
    float* t = F(top, fn, "top");
    float* s = scratch ? F(*scratch, fn, "scratch") : nullptr;
    const float *b = CF(bottom, fn, "bottom"), *w = CF(weight, fn, "weight");
    const float* bi = bias ? CF(*bias, fn, "bias") : nullptr;
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(conv_forward_gpu(t, b, w, bi, s, scratch->count, g, g_stream));
    else conv_forward_cpu(t, b, w, bi, g);
  });
  // None skips an output; weight_diff and bias_diff accumulate, bottom_diff is overwritten.
  m.def("conv_backward", [conv_geom, conv_device](std::optional<Arr> bottom_diff, std::optional<Arr> weight_diff,
                                                  std::optional<Arr> bias_diff, Arr top_diff, Arr bottom,
                                                  Arr weight, std::optional<Arr> scratch, std::vector<int> geom) {
    const char* fn = "conv_backward";
    const bool gpu =
        conv_device(fn, {&top_diff, &bottom, &weight}, {&bottom_diff, &weight_diff, &bias_diff, &scratch});
    const ConvGeom g = conv_geom(fn, top_diff, bottom, weight, geom, scratch, gpu);
    if (bottom_diff) expect_count(*bottom_diff, bottom.count, fn, "bottom_diff");
    if (weight_diff) expect_count(*weight_diff, weight.count, fn, "weight_diff");
    if (bias_diff) expect_count(*bias_diff, g.M, fn, "bias_diff");
    float* bd = bottom_diff ? F(*bottom_diff, fn, "bottom_diff") : nullptr;
    float* wd = weight_diff ? F(*weight_diff, fn, "weight_diff") : nullptr;
    float* bid = bias_diff ? F(*bias_diff, fn, "bias_diff") : nullptr;
    float* s = scratch ? F(*scratch, fn, "scratch") : nullptr;
    const float *td = CF(top_diff, fn, "top_diff"), *b = CF(bottom, fn, "bottom"), *w = CF(weight, fn, "weight");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(conv_backward_gpu(bd, wd, bid, td, b, w, s, scratch->count, g, g_stream));
    else conv_backward_cpu(bd, wd, bid, td, b, w, g);
  });

  // ---- inner_product -------------------------------------------------------------------------

  // ---- pooling -------------------------------------------------------------------------------
  // (size, kernel, stride, pad, ceil_mode): Caffe's pooled size along one axis.
  m.def("pooling_output_size", &pooling_output_size);
  // The geometry of bottom (N×C×H×W) and top (N×C×PH×PW) under the given window; every window must
  // overlap the image.
  auto pool_geometry = [](const char* fn, PoolMethod method, const Arr& bottom, const Arr& top, int kernel_h,
                          int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w) {
    if (bottom.shape.size() != 4 || top.shape.size() != 4 || top.shape[0] != bottom.shape[0] ||
        top.shape[1] != bottom.shape[1])
      throw std::invalid_argument(std::string(fn) + ": bottom and top must be N×C×H×W and N×C×PH×PW, got " +
                                  describe(bottom) + ", " + describe(top));
    if (kernel_h <= 0 || kernel_w <= 0 || stride_h <= 0 || stride_w <= 0 || pad_h < 0 || pad_w < 0 ||
        pad_h >= kernel_h || pad_w >= kernel_w)
      throw std::invalid_argument(std::string(fn) + ": needs kernel > 0, stride > 0 and 0 <= pad < kernel");
    PoolGeometry g;
    g.num = to_int(bottom.shape[0], fn), g.channels = to_int(bottom.shape[1], fn);
    g.height = to_int(bottom.shape[2], fn), g.width = to_int(bottom.shape[3], fn);
    g.pooled_h = to_int(top.shape[2], fn), g.pooled_w = to_int(top.shape[3], fn);
    g.kernel_h = kernel_h, g.kernel_w = kernel_w, g.stride_h = stride_h, g.stride_w = stride_w;
    g.pad_h = pad_h, g.pad_w = pad_w;
    if (g.pooled_h < 1 || g.pooled_w < 1 || (int64_t)(g.pooled_h - 1) * stride_h - pad_h >= g.height ||
        (int64_t)(g.pooled_w - 1) * stride_w - pad_w >= g.width)
      throw std::invalid_argument(std::string(fn) + ": top " + describe(top) + " has windows outside " +
                                  describe(bottom));
    if (method == PoolMethod::kMax && (int64_t)g.height * g.width > (1 << 24))
      throw std::invalid_argument(std::string(fn) + ": planes over 2^24 cells (mask indices are float32)");
    return g;
  };
  auto pool_method = [](const char* fn, const std::string& method, const std::optional<Arr>& mask) {
    if (method != "MAX" && method != "AVE") throw std::invalid_argument(std::string(fn) + ": method must be MAX or AVE");
    if ((method == "MAX") != mask.has_value())
      throw std::invalid_argument(std::string(fn) + ": MAX takes a mask array, AVE takes None");
    return method == "MAX" ? PoolMethod::kMax : PoolMethod::kAve;
  };
  // top, mask (MAX only: argmax index h·W + w as float, else None): N×C×PH×PW; bottom: N×C×H×W.
  m.def("pooling_forward", [pool_geometry, pool_method](Arr top, std::optional<Arr> mask, Arr bottom,
                                                        const std::string& method, int kernel_h, int kernel_w,
                                                        int stride_h, int stride_w, int pad_h, int pad_w) {
    const char* fn = "pooling_forward";
    const PoolMethod pm = pool_method(fn, method, mask);
    const PoolGeometry g = pool_geometry(fn, pm, bottom, top, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w);
    const bool gpu = mask ? same_device(fn, {&top, &*mask, &bottom}) : same_device(fn, {&top, &bottom});
    if (mask) expect_count(*mask, top.count, fn, "mask");
    float* t = F(top, fn, "top");
    float* mk = mask ? F(*mask, fn, "mask") : nullptr;
    const float* b = CF(bottom, fn, "bottom");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(pooling_forward_gpu(t, mk, b, g, pm, g_stream));
    else pooling_forward_cpu(t, mk, b, g, pm);
  });
  // bottom_diff: N×C×H×W (overwritten); top_diff, mask (MAX only, from pooling_forward): N×C×PH×PW.
  m.def("pooling_backward", [pool_geometry, pool_method](Arr bottom_diff, Arr top_diff, std::optional<Arr> mask,
                                                         const std::string& method, int kernel_h, int kernel_w,
                                                         int stride_h, int stride_w, int pad_h, int pad_w) {
    const char* fn = "pooling_backward";
    const PoolMethod pm = pool_method(fn, method, mask);
    const PoolGeometry g =
        pool_geometry(fn, pm, bottom_diff, top_diff, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w);
    const bool gpu =
        mask ? same_device(fn, {&bottom_diff, &top_diff, &*mask}) : same_device(fn, {&bottom_diff, &top_diff});
    if (mask) expect_count(*mask, top_diff.count, fn, "mask");
    float* bd = F(bottom_diff, fn, "bottom_diff");
    const float* td = CF(top_diff, fn, "top_diff");
    const float* mk = mask ? CF(*mask, fn, "mask") : nullptr;
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(pooling_backward_gpu(bd, td, mk, g, pm, g_stream));
    else pooling_backward_cpu(bd, td, mk, g, pm);
  });

  // ---- lrn -----------------------------------------------------------------------------------
  // The LrnParams of a 4-D bottom (N×C×H×W); region is "ACROSS_CHANNELS" or "WITHIN_CHANNEL".
  auto lrn_params = [](const char* fn, const Arr& bottom, int local_size, float alpha, float beta, float k,
                       const std::string& region) {
    if (bottom.shape.size() != 4) throw std::invalid_argument(std::string(fn) + ": bottom must be 4-D, got " + describe(bottom));
    if (local_size <= 0 || local_size % 2 == 0) throw std::invalid_argument(std::string(fn) + ": local_size must be odd");
    if (region != "ACROSS_CHANNELS" && region != "WITHIN_CHANNEL")
      throw std::invalid_argument(std::string(fn) + ": region must be ACROSS_CHANNELS or WITHIN_CHANNEL");
    LrnParams p;
    p.num = to_int(bottom.shape[0], fn), p.channels = to_int(bottom.shape[1], fn);
    p.height = to_int(bottom.shape[2], fn), p.width = to_int(bottom.shape[3], fn);
    p.local_size = local_size, p.alpha = alpha, p.beta = beta, p.k = k;
    p.within_channel = region == "WITHIN_CHANNEL";
    return p;
  };
  // top, scale (kept for backward), bottom: N×C×H×W.
  m.def("lrn_forward", [lrn_params](Arr top, Arr scale, Arr bottom, int local_size, float alpha, float beta, float k,
                                    const std::string& region) {
    const char* fn = "lrn_forward";
    const LrnParams p = lrn_params(fn, bottom, local_size, alpha, beta, k, region);
    expect_count(top, bottom.count, fn, "top");
    expect_count(scale, bottom.count, fn, "scale");
    const bool gpu = same_device(fn, {&top, &scale, &bottom});
    float *t = F(top, fn, "top"), *s = F(scale, fn, "scale");
    const float* b = CF(bottom, fn, "bottom");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(lrn_forward_gpu(t, s, b, p, g_stream));
    else lrn_forward_cpu(t, s, b, p);
  });
  // bottom_diff (overwritten), top_diff, top, scale (from lrn_forward), bottom: N×C×H×W.
  m.def("lrn_backward", [lrn_params](Arr bottom_diff, Arr top_diff, Arr top, Arr scale, Arr bottom, int local_size,
                                     float alpha, float beta, float k, const std::string& region) {
    const char* fn = "lrn_backward";
    const LrnParams p = lrn_params(fn, bottom, local_size, alpha, beta, k, region);
    expect_count(bottom_diff, bottom.count, fn, "bottom_diff");
    expect_count(top_diff, bottom.count, fn, "top_diff");
    expect_count(top, bottom.count, fn, "top");
    expect_count(scale, bottom.count, fn, "scale");
    const bool gpu = same_device(fn, {&bottom_diff, &top_diff, &top, &scale, &bottom});
    float* bd = F(bottom_diff, fn, "bottom_diff");
    const float *td = CF(top_diff, fn, "top_diff"), *t = CF(top, fn, "top"), *s = CF(scale, fn, "scale"),
                *b = CF(bottom, fn, "bottom");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(lrn_backward_gpu(bd, td, t, s, b, p, g_stream));
    else lrn_backward_cpu(bd, td, t, s, b, p);
  });

  // ---- neuron (sigmoid, tanh, dropout) -------------------------------------------------------
  // Sigmoid and TanH: forward(top, bottom), backward(bottom_diff, top_diff, top); n elements each,
  // in place allowed. Dropout at TRAIN: forward(top, bottom, ...), backward(bottom_diff, top_diff, ...)
  // with the mask recomputed from (seed, element index): see layers/neuron.h.
  m.def("sigmoid_forward", [](Arr top, Arr bottom) {
    const Elementwise e = elementwise_forward("sigmoid_forward", top, bottom);
    py::gil_scoped_release nogil;
    if (e.gpu) LRCN_GPU(sigmoid_forward_gpu(e.out, e.a, e.n, g_stream));
    else sigmoid_forward_cpu(e.out, e.a, e.n);
  });
  m.def("sigmoid_backward", [](Arr bottom_diff, Arr top_diff, Arr top) {
    const Elementwise e = elementwise_backward("sigmoid_backward", bottom_diff, top_diff, top, "top");
    py::gil_scoped_release nogil;
    if (e.gpu) LRCN_GPU(sigmoid_backward_gpu(e.out, e.a, e.b, e.n, g_stream));
    else sigmoid_backward_cpu(e.out, e.a, e.b, e.n);
  });
  m.def("tanh_forward", [](Arr top, Arr bottom) {
    const Elementwise e = elementwise_forward("tanh_forward", top, bottom);
    py::gil_scoped_release nogil;
    if (e.gpu) LRCN_GPU(tanh_forward_gpu(e.out, e.a, e.n, g_stream));
    else tanh_forward_cpu(e.out, e.a, e.n);
  });
  m.def("tanh_backward", [](Arr bottom_diff, Arr top_diff, Arr top) {
    const Elementwise e = elementwise_backward("tanh_backward", bottom_diff, top_diff, top, "top");
    py::gil_scoped_release nogil;
    if (e.gpu) LRCN_GPU(tanh_backward_gpu(e.out, e.a, e.b, e.n, g_stream));
    else tanh_backward_cpu(e.out, e.a, e.b, e.n);
  });
  m.def("dropout_forward", [](Arr top, Arr bottom, uint64_t seed, uint32_t threshold, float scale) {
    const char* fn = "dropout_forward";
    expect_count(top, bottom.count, fn, "top");
    const bool gpu = same_device(fn, {&top, &bottom});
    float* t = F(top, fn, "top");
    const float* b = CF(bottom, fn, "bottom");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(dropout_forward_gpu(t, b, bottom.count, seed, threshold, scale, g_stream));
    else dropout_forward_cpu(t, b, bottom.count, seed, threshold, scale);
  });
  m.def("dropout_backward", [](Arr bottom_diff, Arr top_diff, uint64_t seed, uint32_t threshold, float scale) {
    const char* fn = "dropout_backward";
    expect_count(bottom_diff, top_diff.count, fn, "bottom_diff");
    const bool gpu = same_device(fn, {&bottom_diff, &top_diff});
    float* bd = F(bottom_diff, fn, "bottom_diff");
    const float* td = CF(top_diff, fn, "top_diff");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(dropout_backward_gpu(bd, td, top_diff.count, seed, threshold, scale, g_stream));
    else dropout_backward_cpu(bd, td, top_diff.count, seed, threshold, scale);
  });

  // ---- softmax, softmax_loss, accuracy -------------------------------------------------------
  // axis: canonical (0 <= axis < ndim, Python resolves negative ones); the blob is outer × channels × inner.
  // Labels: float32, outer·inner of them. A forward that meets a label naming neither a class in
  // [0, channels) nor ignore_label raises ValueError (the kernels count such labels, never index with them).
  struct AxisDims {
    int outer, channels, inner;
  };
  auto axis_dims = [](const Arr& a, int axis, const char* fn) {
    if (axis < 0 || axis >= static_cast<int>(a.shape.size()))
      throw std::invalid_argument(std::string(fn) + ": axis " + std::to_string(axis) + " out of range for " + describe(a));
    int64_t outer = 1, inner = 1;
    for (int k = 0; k < axis; ++k) outer *= a.shape[k];
    for (size_t k = axis + 1; k < a.shape.size(); ++k) inner *= a.shape[k];
    return AxisDims{to_int(outer, fn), to_int(a.shape[axis], fn), to_int(inner, fn)};
  };
  auto check_labels = [](const LabelStats& s, int channels, std::optional<int> ignore_label, const char* fn) {
    if (s.bad == 0) return;
    std::string msg = std::string(fn) + ": " + std::to_string(s.bad) + " label(s) are not integers in [0, " +
                      std::to_string(channels) + ")";
    if (ignore_label) msg += " nor ignore_label " + std::to_string(*ignore_label);
    throw std::invalid_argument(msg + "; the first is " + py::str(py::float_(s.first_bad)).cast<std::string>());
  };
  m.def("softmax_forward", [axis_dims](Arr top, Arr bottom, int axis) {
    const char* fn = "softmax_forward";
    const AxisDims d = axis_dims(bottom, axis, fn);
    expect_count(top, bottom.count, fn, "top");
    const bool gpu = same_device(fn, {&top, &bottom});
    const float* b = CF(bottom, fn, "bottom");
    float* t = F(top, fn, "top");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(softmax_forward_gpu(t, b, d.outer, d.channels, d.inner, g_stream));
    else softmax_forward_cpu(t, b, d.outer, d.channels, d.inner);
  });
  m.def("softmax_backward", [axis_dims](Arr bottom_diff, Arr top_diff, Arr top, int axis) {
    const char* fn = "softmax_backward";
    const AxisDims d = axis_dims(top, axis, fn);
    expect_count(top_diff, top.count, fn, "top_diff");
    expect_count(bottom_diff, top.count, fn, "bottom_diff");
    const bool gpu = same_device(fn, {&bottom_diff, &top_diff, &top});
    const float *td = CF(top_diff, fn, "top_diff"), *t = CF(top, fn, "top");
    float* bd = F(bottom_diff, fn, "bottom_diff");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(softmax_backward_gpu(bd, td, t, d.outer, d.channels, d.inner, g_stream));
    else softmax_backward_cpu(bd, td, t, d.outer, d.channels, d.inner);
  });
  // Writes the normalised loss into loss (1 element) and returns the normaliser for the backward.
  // normalization: "FULL", "VALID", "BATCH_SIZE" or "NONE".
  m.def("softmax_loss_forward", [axis_dims, check_labels](Arr loss, Arr prob, Arr label, int axis,
                                                          std::optional<int> ignore_label, std::string normalization) {
    const char* fn = "softmax_loss_forward";
    const char* names[] = {"FULL", "VALID", "BATCH_SIZE", "NONE"};
    int mode_index = 0;
    while (mode_index < 4 && normalization != names[mode_index]) ++mode_index;
    if (mode_index == 4) throw std::invalid_argument(std::string(fn) + ": unknown normalization '" + normalization + "'");
    const auto mode = static_cast<LossNormalization>(mode_index);
    const AxisDims d = axis_dims(prob, axis, fn);
    expect_count(loss, 1, fn, "loss");
    expect_count(label, static_cast<int64_t>(d.outer) * d.inner, fn, "label");
    const bool gpu = same_device(fn, {&loss, &prob, &label});
    const float *p = CF(prob, fn, "prob"), *l = CF(label, fn, "label");
    float* out = F(loss, fn, "loss");
    const bool has_ignore = ignore_label.has_value();
    const int ignore = ignore_label.value_or(0);
    LabelStats stats;
    {
      py::gil_scoped_release nogil;
      if (gpu) LRCN_GPU(stats = softmax_loss_forward_gpu(out, p, l, d.outer, d.channels, d.inner, has_ignore, ignore,
                                                         mode, g_stream));
      else stats = softmax_loss_forward_cpu(out, p, l, d.outer, d.channels, d.inner, has_ignore, ignore, mode);
    }
    check_labels(stats, d.channels, ignore_label, fn);
    return loss_normalizer(mode, d.outer, d.inner, stats.valid);
  });
  // bottom_diff = (prob − onehot(label)) · loss_diff[0] / normalizer; 0 at ignored positions.
  m.def("softmax_loss_backward", [axis_dims](Arr bottom_diff, Arr prob, Arr label, Arr loss_diff, int axis,
                                             std::optional<int> ignore_label, float normalizer) {
    const char* fn = "softmax_loss_backward";
    const AxisDims d = axis_dims(prob, axis, fn);
    expect_count(bottom_diff, prob.count, fn, "bottom_diff");
    expect_count(label, static_cast<int64_t>(d.outer) * d.inner, fn, "label");
    expect_count(loss_diff, 1, fn, "loss_diff");
    const bool gpu = same_device(fn, {&bottom_diff, &prob, &label, &loss_diff});
    const float *p = CF(prob, fn, "prob"), *l = CF(label, fn, "label"), *ld = CF(loss_diff, fn, "loss_diff");
    float* bd = F(bottom_diff, fn, "bottom_diff");
    const bool has_ignore = ignore_label.has_value();
    const int ignore = ignore_label.value_or(0);
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(softmax_loss_backward_gpu(bd, p, l, ld, d.outer, d.channels, d.inner, has_ignore, ignore,
                                                normalizer, g_stream));
    else softmax_loss_backward_cpu(bd, p, l, ld, d.outer, d.channels, d.inner, has_ignore, ignore, normalizer);
  });
  // accuracy: 1 element; per_class: None or `channels` elements.
  m.def("accuracy_forward", [axis_dims, check_labels](Arr accuracy, std::optional<Arr> per_class, Arr bottom,
                                                      Arr label, int axis, int top_k, std::optional<int> ignore_label) {
    const char* fn = "accuracy_forward";
    const AxisDims d = axis_dims(bottom, axis, fn);
    if (top_k < 1) throw std::invalid_argument(std::string(fn) + ": top_k must be at least 1");
    expect_count(accuracy, 1, fn, "accuracy");
    expect_count(label, static_cast<int64_t>(d.outer) * d.inner, fn, "label");
    if (per_class) expect_count(*per_class, d.channels, fn, "per_class");
    const bool gpu = per_class ? same_device(fn, {&accuracy, &*per_class, &bottom, &label})
                               : same_device(fn, {&accuracy, &bottom, &label});
    const float *b = CF(bottom, fn, "bottom"), *l = CF(label, fn, "label");
    float* acc = F(accuracy, fn, "accuracy");
    float* pc = per_class ? F(*per_class, fn, "per_class") : nullptr;
    const bool has_ignore = ignore_label.has_value();
    const int ignore = ignore_label.value_or(0);
    LabelStats stats;
    {
      py::gil_scoped_release nogil;
      if (gpu) LRCN_GPU(stats = accuracy_forward_gpu(acc, pc, b, l, d.outer, d.channels, d.inner, top_k, has_ignore,
                                                     ignore, g_stream));
      else stats = accuracy_forward_cpu(acc, pc, b, l, d.outer, d.channels, d.inner, top_k, has_ignore, ignore);
    }
    check_labels(stats, d.channels, ignore_label, fn);
  });

  // ---- concat, slice, eltwise ----------------------------------------------------------------
  // Concat/Slice block copies. `whole` (the concatenated blob) and `part` (one piece) agree in every axis
  // but `axis`, where part occupies [offset, offset + part.shape[axis]) of whole. Returns the copy's
  // rows, width, whole's row stride and the element offset of the block in whole (layers/concat.h).
  struct Block { int64_t rows, width, stride, start; };
  auto block = [](const Arr& whole, const Arr& part, int axis, int64_t offset, const char* fn) {
    const int nd = static_cast<int>(whole.shape.size());
    if (static_cast<int>(part.shape.size()) != nd || axis < 0 || axis >= nd)
      throw std::invalid_argument(std::string(fn) + ": axis " + std::to_string(axis) + " does not fit " +
                                  describe(whole) + " and " + describe(part));
    Block b{1, part.shape[axis], whole.shape[axis], offset};
    for (int d = 0; d < nd; ++d) {
      if (d != axis && whole.shape[d] != part.shape[d])
        throw std::invalid_argument(std::string(fn) + ": shapes differ outside axis " + std::to_string(axis) +
                                    ": " + describe(whole) + " and " + describe(part));
      if (d < axis) b.rows *= whole.shape[d];
      if (d > axis) b.width *= whole.shape[d], b.stride *= whole.shape[d], b.start *= whole.shape[d];
    }
    if (offset < 0 || offset + part.shape[axis] > whole.shape[axis])
      throw std::invalid_argument(std::string(fn) + ": block [" + std::to_string(offset) + ", " +
                                  std::to_string(offset + part.shape[axis]) + ") exceeds axis " +
                                  std::to_string(axis) + " of " + describe(whole));
    return b;
  };
  // top[..., offset : offset + n, ...] = bottom along axis (Concat forward, Slice backward).
  m.def("concat_forward", [block](Arr top, Arr bottom, int axis, int64_t offset) {
    const char* fn = "concat_forward";
    const Block b = block(top, bottom, axis, offset, fn);
    const bool gpu = same_device(fn, {&top, &bottom});
    float* t = F(top, fn, "top") + b.start;
    const float* s = CF(bottom, fn, "bottom");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(concat_copy_gpu(t, s, b.rows, b.width, b.stride, b.width, g_stream));
    else concat_copy_cpu(t, s, b.rows, b.width, b.stride, b.width);
  });
  // bottom_diff = top_diff[..., offset : offset + n, ...] along axis (Concat backward, Slice forward).
  m.def("concat_backward", [block](Arr bottom_diff, Arr top_diff, int axis, int64_t offset) {
    const char* fn = "concat_backward";
    const Block b = block(top_diff, bottom_diff, axis, offset, fn);
    const bool gpu = same_device(fn, {&bottom_diff, &top_diff});
    float* d = F(bottom_diff, fn, "bottom_diff");
    const float* s = CF(top_diff, fn, "top_diff") + b.start;
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(concat_copy_gpu(d, s, b.rows, b.width, b.width, b.stride, g_stream));
    else concat_copy_cpu(d, s, b.rows, b.width, b.width, b.stride);
  });
  // Eltwise over k ≥ 2 bottoms of equal size; op as caffe.proto (0 PROD, 1 SUM, 2 MAX), one coeff per
  // bottom, mask (top-sized) only for MAX (layers/eltwise.h).
  auto eltwise_args = [](const char* fn, const Arr& top, const std::vector<Arr>& bottoms, int op,
                         const std::vector<float>& coeff, const std::optional<Arr>& mask) {
    if (op < kEltwiseProd || op > kEltwiseMax) throw std::invalid_argument(std::string(fn) + ": op must be 0, 1 or 2");
    if (bottoms.size() < 2 || coeff.size() != bottoms.size())
      throw std::invalid_argument(std::string(fn) + ": needs at least 2 bottoms and one coeff per bottom, got " +
                                  std::to_string(bottoms.size()) + " and " + std::to_string(coeff.size()));
    std::vector<const float*> ptrs;
    for (const Arr& b : bottoms) {
      expect_count(b, top.count, fn, "bottom");
      same_device(fn, {&top, &b});
      ptrs.push_back(CF(b, fn, "bottom"));
    }
    if (op == kEltwiseMax) {
      if (!mask) throw std::invalid_argument(std::string(fn) + ": MAX needs a mask");
      expect_count(*mask, top.count, fn, "mask");
      same_device(fn, {&top, &*mask});
    }
    return ptrs;
  };
  m.def("eltwise_forward", [eltwise_args](Arr top, std::optional<Arr> mask, std::vector<Arr> bottoms, int op,
                                          std::vector<float> coeff) {
    const char* fn = "eltwise_forward";
    const std::vector<const float*> b = eltwise_args(fn, top, bottoms, op, coeff, mask);
    float* t = F(top, fn, "top");
    float* mk = op == kEltwiseMax ? F(*mask, fn, "mask") : nullptr;
    const int k = static_cast<int>(b.size());
    py::gil_scoped_release nogil;
    if (top.gpu) LRCN_GPU(eltwise_forward_gpu(t, mk, b.data(), coeff.data(), k, top.count, op, g_stream));
    else eltwise_forward_cpu(t, mk, b.data(), coeff.data(), k, top.count, op);
  });
  m.def("eltwise_backward", [eltwise_args](Arr bottom_diff, Arr top_diff, Arr top, std::vector<Arr> bottoms,
                                           std::optional<Arr> mask, int i, int op, std::vector<float> coeff,
                                           bool stable_prod_grad) {
    const char* fn = "eltwise_backward";
    const std::vector<const float*> b = eltwise_args(fn, top, bottoms, op, coeff, mask);
    expect_count(bottom_diff, top.count, fn, "bottom_diff");
    expect_count(top_diff, top.count, fn, "top_diff");
    same_device(fn, {&top, &bottom_diff, &top_diff});
    if (i < 0 || i >= static_cast<int>(b.size()))
      throw std::invalid_argument(std::string(fn) + ": bottom index " + std::to_string(i) + " out of range");
    float* bd = F(bottom_diff, fn, "bottom_diff");
    const float *td = CF(top_diff, fn, "top_diff"), *t = CF(top, fn, "top");
    const float* mk = op == kEltwiseMax ? CF(*mask, fn, "mask") : nullptr;
    const int k = static_cast<int>(b.size());
    py::gil_scoped_release nogil;
    if (top.gpu)
      LRCN_GPU(eltwise_backward_gpu(bd, td, t, b.data(), mk, coeff.data(), k, i, top.count, op, stable_prod_grad,
                                    g_stream));
    else eltwise_backward_cpu(bd, td, t, b.data(), mk, coeff.data(), k, i, top.count, op, stable_prod_grad);
  });
  // SUM scaled by a coefficient blob of k·num values, k = len(coeff) bottoms of num·dim (layers/eltwise.h).
  auto coeff_blob_rows = [](const char* fn, const Arr& top, const Arr& coeff_blob, size_t k) {
    if (k == 0 || coeff_blob.count % static_cast<int64_t>(k) != 0)
      throw std::invalid_argument(std::string(fn) + ": coeff_blob " + describe(coeff_blob) + " is not " +
                                  std::to_string(k) + " rows");
    const int64_t num = coeff_blob.count / static_cast<int64_t>(k);
    if (num == 0 || top.count % num != 0)
      throw std::invalid_argument(std::string(fn) + ": " + describe(top) + " does not split into " +
                                  std::to_string(num) + " coefficient rows");
    same_device(fn, {&top, &coeff_blob});
    return num;
  };
  m.def("eltwise_coeff_blob_forward", [coeff_blob_rows](Arr top, std::vector<Arr> bottoms, std::vector<float> coeff,
                                                        Arr coeff_blob) {
    const char* fn = "eltwise_coeff_blob_forward";
    if (bottoms.empty() || coeff.size() != bottoms.size())
      throw std::invalid_argument(std::string(fn) + ": needs one coeff per bottom");
    const int64_t num = coeff_blob_rows(fn, top, coeff_blob, bottoms.size());
    std::vector<const float*> b;
    for (const Arr& x : bottoms) {
      expect_count(x, top.count, fn, "bottom");
      same_device(fn, {&top, &x});
      b.push_back(CF(x, fn, "bottom"));
    }
    float* t = F(top, fn, "top");
    const float* cb = CF(coeff_blob, fn, "coeff_blob");
    const int k = static_cast<int>(b.size());
    py::gil_scoped_release nogil;
    if (top.gpu) LRCN_GPU(eltwise_coeff_blob_forward_gpu(t, b.data(), coeff.data(), cb, k, num, top.count / num, g_stream));
    else eltwise_coeff_blob_forward_cpu(t, b.data(), coeff.data(), cb, k, num, top.count / num);
  });
  m.def("eltwise_coeff_blob_backward", [coeff_blob_rows](Arr bottom_diff, Arr top_diff, std::vector<float> coeff,
                                                         Arr coeff_blob, int i) {
    const char* fn = "eltwise_coeff_blob_backward";
    const int64_t num = coeff_blob_rows(fn, top_diff, coeff_blob, coeff.size());
    expect_count(bottom_diff, top_diff.count, fn, "bottom_diff");
    same_device(fn, {&top_diff, &bottom_diff});
    if (i < 0 || i >= static_cast<int>(coeff.size()))
      throw std::invalid_argument(std::string(fn) + ": bottom index " + std::to_string(i) + " out of range");
    float* bd = F(bottom_diff, fn, "bottom_diff");
    const float *td = CF(top_diff, fn, "top_diff"), *cb = CF(coeff_blob, fn, "coeff_blob");
    py::gil_scoped_release nogil;
    if (top_diff.gpu)
      LRCN_GPU(eltwise_coeff_blob_backward_gpu(bd, td, coeff.data(), cb, i, num, top_diff.count / num, g_stream));
    else eltwise_coeff_blob_backward_cpu(bd, td, coeff.data(), cb, i, num, top_diff.count / num);
  });

  // ---- embed ---------------------------------------------------------------------------------
  // Optional arrays (None): an absent static input or bias, a gradient nobody asked for. Used by the
  // embed and the lstm/lstm_unit/rnn bindings below.
  using OptArr = std::optional<Arr>;
  struct Opt {
    static float* w(const OptArr& a, const char* fn, const char* name) { return a ? F(*a, fn, name) : nullptr; }
    static const float* r(const OptArr& a, const char* fn, const char* name) { return a ? CF(*a, fn, name) : nullptr; }
    static void count(const OptArr& a, int64_t n, const char* fn, const char* name) {
      if (a) expect_count(*a, n, fn, name);
    }
    static const Arr* or_(const OptArr& a, const Arr& present) { return a ? &*a : &present; }  // for same_device
  };
  // top (M × N, M = bottom's count) = weight (K × N) rows picked by bottom (+ bias). Returns the first
  // position whose index is not an integer in [−1, K), or −1; the layer raises the error.
  m.def("embed_forward", [](Arr top, Arr bottom, Arr weight, OptArr bias) {
    const char* fn = "embed_forward";
    if (weight.shape.size() != 2)
      throw std::invalid_argument("embed_forward: weight must be 2-D (input_dim × num_output), got " +
                                  describe(weight));
    const int64_t M = bottom.count;
    const int K = to_int(weight.shape[0], fn), N = to_int(weight.shape[1], fn);
    expect_count(top, M * N, fn, "top");
    Opt::count(bias, N, fn, "bias");
    const bool gpu = same_device(fn, {&top, &bottom, &weight, Opt::or_(bias, top)});
    float* t = F(top, fn, "top");
    const float *b = CF(bottom, fn, "bottom"), *w = CF(weight, fn, "weight"), *bb = Opt::r(bias, fn, "bias");
    py::gil_scoped_release nogil;
    int64_t bad = -1;
    if (gpu) LRCN_GPU(bad = embed_forward_gpu(t, b, w, bb, M, K, N, g_stream));
    else bad = embed_forward_cpu(t, b, w, bb, M, K, N);
    return bad;
  });
  // weight_diff (K × N) += top_diff rows scattered by index; bias_diff (N) += Σ rows (either may be None).
  m.def("embed_backward", [](OptArr weight_diff, OptArr bias_diff, Arr top_diff, Arr bottom, int K) {
    const char* fn = "embed_backward";
    const int64_t M = bottom.count;
    if (M == 0 || top_diff.count % M != 0) throw std::invalid_argument("embed_backward: top_diff is not M × N");
    const int N = to_int(top_diff.count / M, fn);
    Opt::count(weight_diff, (int64_t)K * N, fn, "weight_diff");
    Opt::count(bias_diff, N, fn, "bias_diff");
    const bool gpu = same_device(fn, {&top_diff, &bottom, Opt::or_(weight_diff, bottom), Opt::or_(bias_diff, bottom)});
    float *wd = Opt::w(weight_diff, fn, "weight_diff"), *bd = Opt::w(bias_diff, fn, "bias_diff");
    const float *td = CF(top_diff, fn, "top_diff"), *b = CF(bottom, fn, "bottom");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(embed_backward_gpu(wd, bd, td, b, M, K, N, g_stream));
    else embed_backward_cpu(wd, bd, td, b, M, K, N);
  });

  // ---- lstm, lstm_unit, rnn ------------------------------------------------------------------
  // The recurrent layers' sizes, read from the arrays: T × N from cont, G × D from W_x, G × H from W_h
  // (G = gates·H: 4H for the LSTM, H for the RNN), G × S from W_s (S = 0 without a static input).
  struct RecurDims {
    int T, N, D, S, H, G;
    RecurDims(const char* fn, const Arr& cont, const Arr& W_x, const OptArr& W_s, const Arr& W_h, int gates) {
      auto fail = [&](const std::string& what) { throw std::invalid_argument(std::string(fn) + ": " + what); };
      if (cont.shape.size() != 2) fail("cont must be T × N, got " + describe(cont));
      if (W_h.shape.size() != 2 || W_h.shape[0] != gates * W_h.shape[1])
        fail("recurrent weight must be " + std::to_string(gates) + "H × H, got " + describe(W_h));
      if (W_x.shape.size() != 2 || W_x.shape[0] != W_h.shape[0])
        fail("input weight must be " + std::to_string(W_h.shape[0]) + " × D, got " + describe(W_x));
      if (W_s && (W_s->shape.size() != 2 || W_s->shape[0] != W_h.shape[0]))
        fail("static weight must be " + std::to_string(W_h.shape[0]) + " × S, got " + describe(*W_s));
      T = to_int(cont.shape[0], fn), N = to_int(cont.shape[1], fn), D = to_int(W_x.shape[1], fn);
      S = W_s ? to_int(W_s->shape[1], fn) : 0, H = to_int(W_h.shape[1], fn), G = to_int(W_h.shape[0], fn);
      if (T < 1) fail("needs at least one timestep");
    }
  };
  m.def("lstm_forward", [](Arr h, Arr gates, Arr c, Arr hc, Arr h_T, Arr c_T, OptArr static_gates, Arr x, Arr cont,
                           OptArr x_static, Arr h_0, Arr c_0, Arr W_xc, Arr b_c, OptArr W_static, Arr W_hc) {
    const char* fn = "lstm_forward";
    const RecurDims d(fn, cont, W_xc, W_static, W_hc, 4);
    const int64_t TN = (int64_t)d.T * d.N, NH = (int64_t)d.N * d.H;
    if (d.S > 0 && (!x_static || !static_gates))
      throw std::invalid_argument("lstm_forward: a static weight needs x_static and static_gates");
    if (x_static && !W_static) throw std::invalid_argument("lstm_forward: x_static without W_static");
    expect_count(x, TN * d.D, fn, "x");
    for (auto [a, name] : {std::pair{&h, "h"}, {&c, "c"}, {&hc, "hc"}}) expect_count(*a, TN * d.H, fn, name);
    expect_count(gates, TN * d.G, fn, "gates");
    for (auto [a, name] : {std::pair{&h_T, "h_T"}, {&c_T, "c_T"}, {&h_0, "h_0"}, {&c_0, "c_0"}})
      expect_count(*a, NH, fn, name);
    expect_count(b_c, d.G, fn, "b_c");
    Opt::count(x_static, (int64_t)d.N * d.S, fn, "x_static");
    Opt::count(static_gates, (int64_t)d.N * d.G, fn, "static_gates");
    const bool gpu = same_device(fn, {&h, &gates, &c, &hc, &h_T, &c_T, &x, &cont, &h_0, &c_0, &W_xc, &b_c, &W_hc,
                                      Opt::or_(static_gates, h), Opt::or_(x_static, h), Opt::or_(W_static, h)});
    float *hp = F(h, fn, "h"), *gp = F(gates, fn, "gates"), *cp = F(c, fn, "c"), *hcp = F(hc, fn, "hc");
    float *hT = F(h_T, fn, "h_T"), *cT = F(c_T, fn, "c_T"), *sg = Opt::w(static_gates, fn, "static_gates");
    const float *xp = CF(x, fn, "x"), *contp = CF(cont, fn, "cont"), *xs = Opt::r(x_static, fn, "x_static");
    const float *h0 = CF(h_0, fn, "h_0"), *c0 = CF(c_0, fn, "c_0"), *wx = CF(W_xc, fn, "W_xc"), *b = CF(b_c, fn, "b_c");
    const float *ws = Opt::r(W_static, fn, "W_static"), *wh = CF(W_hc, fn, "W_hc");
    py::gil_scoped_release nogil;
    if (gpu)
      LRCN_GPU(lstm_forward_gpu(hp, gp, cp, hcp, hT, cT, sg, xp, contp, xs, h0, c0, wx, b, ws, wh, d.T, d.N, d.D, d.S,
                                d.H, g_stream));
    else
      lstm_forward_cpu(hp, gp, cp, hcp, hT, cT, sg, xp, contp, xs, h0, c0, wx, b, ws, wh, d.T, d.N, d.D, d.S, d.H);
  });
  m.def("lstm_backward", [](OptArr dx, OptArr dx_static, OptArr dh_0, OptArr dc_0, OptArr dW_xc, OptArr db_c,
                            OptArr dW_static, OptArr dW_hc, Arr dgates, OptArr dgates_sum, Arr dh_next, Arr dc_next,
                            Arr dh, OptArr dh_T, OptArr dc_T, Arr gates, Arr c, Arr hc, Arr c_0, Arr x, Arr cont,
                            OptArr x_static, Arr W_xc, OptArr W_static, Arr W_hc) {
    const char* fn = "lstm_backward";
    const RecurDims d(fn, cont, W_xc, W_static, W_hc, 4);
    const int64_t TN = (int64_t)d.T * d.N, NH = (int64_t)d.N * d.H;
    if ((dW_static || dx_static) && (d.S == 0 || !x_static || !dgates_sum))
      throw std::invalid_argument("lstm_backward: static gradients need W_static, x_static and dgates_sum");
    Opt::count(dx, TN * d.D, fn, "dx");
    Opt::count(dx_static, (int64_t)d.N * d.S, fn, "dx_static");
    for (auto [a, name] : {std::pair{&dh_0, "dh_0"}, {&dc_0, "dc_0"}, {&dh_T, "dh_T"}, {&dc_T, "dc_T"}})
      Opt::count(*a, NH, fn, name);
    Opt::count(dW_xc, (int64_t)d.G * d.D, fn, "dW_xc");
    Opt::count(db_c, d.G, fn, "db_c");
    Opt::count(dW_static, (int64_t)d.G * d.S, fn, "dW_static");
    Opt::count(dW_hc, (int64_t)d.G * d.H, fn, "dW_hc");
    expect_count(dgates, TN * d.G, fn, "dgates");
    Opt::count(dgates_sum, (int64_t)d.N * d.G, fn, "dgates_sum");
    expect_count(dh_next, NH, fn, "dh_next");
    expect_count(dc_next, NH, fn, "dc_next");
    for (auto [a, name] : {std::pair{&dh, "dh"}, {&c, "c"}, {&hc, "hc"}}) expect_count(*a, TN * d.H, fn, name);
    expect_count(gates, TN * d.G, fn, "gates");
    expect_count(c_0, NH, fn, "c_0");
    expect_count(x, TN * d.D, fn, "x");
    Opt::count(x_static, (int64_t)d.N * d.S, fn, "x_static");
    const bool gpu = same_device(
        fn, {&dgates, &dh_next, &dc_next, &dh, &gates, &c, &hc, &c_0, &x, &cont, &W_xc, &W_hc, Opt::or_(dx, x),
             Opt::or_(dx_static, x), Opt::or_(dh_0, x), Opt::or_(dc_0, x), Opt::or_(dW_xc, x), Opt::or_(db_c, x),
             Opt::or_(dW_static, x), Opt::or_(dW_hc, x), Opt::or_(dgates_sum, x), Opt::or_(dh_T, x),
             Opt::or_(dc_T, x), Opt::or_(x_static, x), Opt::or_(W_static, x)});
    float *dxp = Opt::w(dx, fn, "dx"), *dxs = Opt::w(dx_static, fn, "dx_static"), *dh0 = Opt::w(dh_0, fn, "dh_0");
    float *dc0 = Opt::w(dc_0, fn, "dc_0"), *dwx = Opt::w(dW_xc, fn, "dW_xc"), *db = Opt::w(db_c, fn, "db_c");
    float *dws = Opt::w(dW_static, fn, "dW_static"), *dwh = Opt::w(dW_hc, fn, "dW_hc");
    float *dg = F(dgates, fn, "dgates"), *dgs = Opt::w(dgates_sum, fn, "dgates_sum");
    float *dhn = F(dh_next, fn, "dh_next"), *dcn = F(dc_next, fn, "dc_next");
    const float *dhp = CF(dh, fn, "dh"), *dhT = Opt::r(dh_T, fn, "dh_T"), *dcT = Opt::r(dc_T, fn, "dc_T");
    const float *gp = CF(gates, fn, "gates"), *cp = CF(c, fn, "c"), *hcp = CF(hc, fn, "hc"), *c0 = CF(c_0, fn, "c_0");
    const float *xp = CF(x, fn, "x"), *contp = CF(cont, fn, "cont"), *xs = Opt::r(x_static, fn, "x_static");
    const float *wx = CF(W_xc, fn, "W_xc"), *ws = Opt::r(W_static, fn, "W_static"), *wh = CF(W_hc, fn, "W_hc");
    py::gil_scoped_release nogil;
    if (gpu)
      LRCN_GPU(lstm_backward_gpu(dxp, dxs, dh0, dc0, dwx, db, dws, dwh, dg, dgs, dhn, dcn, dhp, dhT, dcT, gp, cp, hcp,
                                 c0, xp, contp, xs, wx, ws, wh, d.T, d.N, d.D, d.S, d.H, g_stream));
    else
      lstm_backward_cpu(dxp, dxs, dh0, dc0, dwx, db, dws, dwh, dg, dgs, dhn, dcn, dhp, dhT, dcT, gp, cp, hcp, c0, xp,
                        contp, xs, wx, ws, wh, d.T, d.N, d.D, d.S, d.H);
  });
  // LSTMUnit: c_prev (N × H), x (N × 4H), cont (N) → c, h (N × H).
  m.def("lstm_unit_forward", [](Arr c, Arr h, Arr c_prev, Arr x, Arr cont) {
    const char* fn = "lstm_unit_forward";
    const int N = to_int(cont.count, fn), H = N ? to_int(c_prev.count / N, fn) : 0;
    expect_count(c_prev, (int64_t)N * H, fn, "c_prev");
    for (auto [a, name] : {std::pair{&c, "c"}, {&h, "h"}}) expect_count(*a, (int64_t)N * H, fn, name);
    expect_count(x, 4 * (int64_t)N * H, fn, "x");
    const bool gpu = same_device(fn, {&c, &h, &c_prev, &x, &cont});
    float *cp = F(c, fn, "c"), *hp = F(h, fn, "h");
    const float *cpp = CF(c_prev, fn, "c_prev"), *xp = CF(x, fn, "x"), *contp = CF(cont, fn, "cont");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(lstm_unit_forward_gpu(cp, hp, cpp, xp, contp, N, H, g_stream));
    else lstm_unit_forward_cpu(cp, hp, cpp, xp, contp, N, H);
  });
  m.def("lstm_unit_backward", [](OptArr dc_prev, OptArr dx, Arr dc, Arr dh, Arr c_prev, Arr x, Arr c, Arr cont) {
    const char* fn = "lstm_unit_backward";
    const int N = to_int(cont.count, fn), H = N ? to_int(c_prev.count / N, fn) : 0;
    const int64_t NH = (int64_t)N * H;
    for (auto [a, name] : {std::pair{&dc, "dc"}, {&dh, "dh"}, {&c_prev, "c_prev"}, {&c, "c"}})
      expect_count(*a, NH, fn, name);
    expect_count(x, 4 * NH, fn, "x");
    Opt::count(dc_prev, NH, fn, "dc_prev");
    Opt::count(dx, 4 * NH, fn, "dx");
    const bool gpu = same_device(fn, {&dc, &dh, &c_prev, &x, &c, &cont, Opt::or_(dc_prev, x), Opt::or_(dx, x)});
    float *dcp = Opt::w(dc_prev, fn, "dc_prev"), *dxp = Opt::w(dx, fn, "dx");
    const float *dcc = CF(dc, fn, "dc"), *dhp = CF(dh, fn, "dh"), *cpp = CF(c_prev, fn, "c_prev");
    const float *xp = CF(x, fn, "x"), *cp = CF(c, fn, "c"), *contp = CF(cont, fn, "cont");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(lstm_unit_backward_gpu(dcp, dxp, dcc, dhp, cpp, xp, cp, contp, N, H, g_stream));
    else lstm_unit_backward_cpu(dcp, dxp, dcc, dhp, cpp, xp, cp, contp, N, H);
  });
  m.def("rnn_forward", [](Arr o, Arr hs, Arr hc, Arr h_T, OptArr static_z, Arr x, Arr cont, OptArr x_static, Arr h_0,
                          Arr W_xh, Arr b_h, OptArr W_static, Arr W_hh, Arr W_ho, Arr b_o) {
    const char* fn = "rnn_forward";
    const RecurDims d(fn, cont, W_xh, W_static, W_hh, 1);
    const int64_t TN = (int64_t)d.T * d.N, NH = (int64_t)d.N * d.H;
    if (d.S > 0 && (!x_static || !static_z))
      throw std::invalid_argument("rnn_forward: a static weight needs x_static and static_z");
    if (x_static && !W_static) throw std::invalid_argument("rnn_forward: x_static without W_static");
    expect_count(x, TN * d.D, fn, "x");
    for (auto [a, name] : {std::pair{&o, "o"}, {&hs, "hs"}, {&hc, "hc"}}) expect_count(*a, TN * d.H, fn, name);
    for (auto [a, name] : {std::pair{&h_T, "h_T"}, {&h_0, "h_0"}}) expect_count(*a, NH, fn, name);
    for (auto [a, name] : {std::pair{&b_h, "b_h"}, {&b_o, "b_o"}}) expect_count(*a, d.H, fn, name);
    expect_count(W_ho, (int64_t)d.H * d.H, fn, "W_ho");
    Opt::count(x_static, (int64_t)d.N * d.S, fn, "x_static");
    Opt::count(static_z, NH, fn, "static_z");
    const bool gpu = same_device(fn, {&o, &hs, &hc, &h_T, &x, &cont, &h_0, &W_xh, &b_h, &W_hh, &W_ho, &b_o,
                                      Opt::or_(static_z, o), Opt::or_(x_static, o), Opt::or_(W_static, o)});
    float *op = F(o, fn, "o"), *hsp = F(hs, fn, "hs"), *hcp = F(hc, fn, "hc"), *hT = F(h_T, fn, "h_T");
    float* sz = Opt::w(static_z, fn, "static_z");
    const float *xp = CF(x, fn, "x"), *contp = CF(cont, fn, "cont"), *xs = Opt::r(x_static, fn, "x_static");
    const float *h0 = CF(h_0, fn, "h_0"), *wx = CF(W_xh, fn, "W_xh"), *bh = CF(b_h, fn, "b_h");
    const float *ws = Opt::r(W_static, fn, "W_static"), *wh = CF(W_hh, fn, "W_hh"), *wo = CF(W_ho, fn, "W_ho");
    const float* bo = CF(b_o, fn, "b_o");
    py::gil_scoped_release nogil;
    if (gpu)
      LRCN_GPU(rnn_forward_gpu(op, hsp, hcp, hT, sz, xp, contp, xs, h0, wx, bh, ws, wh, wo, bo, d.T, d.N, d.D, d.S, d.H,
                               g_stream));
    else
      rnn_forward_cpu(op, hsp, hcp, hT, sz, xp, contp, xs, h0, wx, bh, ws, wh, wo, bo, d.T, d.N, d.D, d.S, d.H);
  });
  m.def("rnn_backward", [](OptArr dx, OptArr dx_static, OptArr dh_0, OptArr dW_xh, OptArr db_h, OptArr dW_static,
                           OptArr dW_hh, OptArr dW_ho, OptArr db_o, Arr dzo, Arr dz, OptArr dz_sum, Arr dh_next,
                           Arr do_, OptArr dh_T, Arr o, Arr hs, Arr hc, Arr x, Arr cont, OptArr x_static, Arr W_xh,
                           OptArr W_static, Arr W_hh, Arr W_ho) {
    const char* fn = "rnn_backward";
    const RecurDims d(fn, cont, W_xh, W_static, W_hh, 1);
    const int64_t TN = (int64_t)d.T * d.N, NH = (int64_t)d.N * d.H, HH = (int64_t)d.H * d.H;
    if ((dW_static || dx_static) && (d.S == 0 || !x_static || !dz_sum))
      throw std::invalid_argument("rnn_backward: static gradients need W_static, x_static and dz_sum");
    Opt::count(dx, TN * d.D, fn, "dx");
    Opt::count(dx_static, (int64_t)d.N * d.S, fn, "dx_static");
    for (auto [a, name] : {std::pair{&dh_0, "dh_0"}, {&dh_T, "dh_T"}, {&dz_sum, "dz_sum"}})
      Opt::count(*a, NH, fn, name);
    Opt::count(dW_xh, (int64_t)d.H * d.D, fn, "dW_xh");
    Opt::count(dW_static, (int64_t)d.H * d.S, fn, "dW_static");
    for (auto [a, name] : {std::pair{&dW_hh, "dW_hh"}, {&dW_ho, "dW_ho"}}) Opt::count(*a, HH, fn, name);
    for (auto [a, name] : {std::pair{&db_h, "db_h"}, {&db_o, "db_o"}}) Opt::count(*a, d.H, fn, name);
    for (auto [a, name] : {std::pair{&dzo, "dzo"}, {&dz, "dz"}, {&do_, "do"}, {&o, "o"}, {&hs, "hs"}, {&hc, "hc"}})
      expect_count(*a, TN * d.H, fn, name);
    expect_count(dh_next, NH, fn, "dh_next");
    expect_count(x, TN * d.D, fn, "x");
    expect_count(W_ho, HH, fn, "W_ho");
    Opt::count(x_static, (int64_t)d.N * d.S, fn, "x_static");
    const bool gpu = same_device(
        fn, {&dzo, &dz, &dh_next, &do_, &o, &hs, &hc, &x, &cont, &W_xh, &W_hh, &W_ho, Opt::or_(dx, x),
             Opt::or_(dx_static, x), Opt::or_(dh_0, x), Opt::or_(dW_xh, x), Opt::or_(db_h, x), Opt::or_(dW_static, x),
             Opt::or_(dW_hh, x), Opt::or_(dW_ho, x), Opt::or_(db_o, x), Opt::or_(dz_sum, x), Opt::or_(dh_T, x),
             Opt::or_(x_static, x), Opt::or_(W_static, x)});
    float *dxp = Opt::w(dx, fn, "dx"), *dxs = Opt::w(dx_static, fn, "dx_static"), *dh0 = Opt::w(dh_0, fn, "dh_0");
    float *dwx = Opt::w(dW_xh, fn, "dW_xh"), *dbh = Opt::w(db_h, fn, "db_h"), *dws = Opt::w(dW_static, fn, "dW_static");
    float *dwh = Opt::w(dW_hh, fn, "dW_hh"), *dwo = Opt::w(dW_ho, fn, "dW_ho"), *dbo = Opt::w(db_o, fn, "db_o");
    float *dzop = F(dzo, fn, "dzo"), *dzp = F(dz, fn, "dz"), *dzs = Opt::w(dz_sum, fn, "dz_sum");
    float* dhn = F(dh_next, fn, "dh_next");
    const float *dop = CF(do_, fn, "do"), *dhT = Opt::r(dh_T, fn, "dh_T"), *op = CF(o, fn, "o");
    const float *hsp = CF(hs, fn, "hs"), *hcp = CF(hc, fn, "hc"), *xp = CF(x, fn, "x"), *contp = CF(cont, fn, "cont");
    const float *xs = Opt::r(x_static, fn, "x_static"), *wx = CF(W_xh, fn, "W_xh");
    const float *ws = Opt::r(W_static, fn, "W_static"), *wh = CF(W_hh, fn, "W_hh"), *wo = CF(W_ho, fn, "W_ho");
    py::gil_scoped_release nogil;
    if (gpu)
      LRCN_GPU(rnn_backward_gpu(dxp, dxs, dh0, dwx, dbh, dws, dwh, dwo, dbo, dzop, dzp, dzs, dhn, dop, dhT, op, hsp,
                                hcp, xp, contp, xs, wx, ws, wh, wo, d.T, d.N, d.D, d.S, d.H, g_stream));
    else
      rnn_backward_cpu(dxp, dxs, dh0, dwx, dbh, dws, dwh, dwo, dbo, dzop, dzp, dzs, dhn, dop, dhT, op, hsp, hcp, xp,
                       contp, xs, wx, ws, wh, wo, d.T, d.N, d.D, d.S, d.H);
  });

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
