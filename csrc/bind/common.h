// What every binding file shares: Arr (a borrowed view of a numpy or cupy array) and its caster, the
// checks (dtype, contiguity, read-only, device, counts) whose messages name the function and the argument,
// the current CUDA stream, and LRCN_GPU. The kernels (csrc/*.h, csrc/layers/*.h) never see pybind.
#pragma once
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "common.h"

namespace py = pybind11;

namespace lrcn::bind {
// Arr: a borrowed view of a numpy or cupy array.
struct Arr {
  void* ptr = nullptr;
  std::vector<int64_t> shape;
  int64_t count = 1;
  std::string typestr;  // "<f4", "<i4", ...
  bool gpu = false, readonly = false, contiguous = true;
};

// The stream of this thread's current call: cupy's current stream, read when a device array is converted
// (every call with one), so kernels follow `with cupy.cuda.Stream(...)` and the current device's stream.
inline thread_local cudaStream_t g_stream = nullptr;
// The launcher's tag for the fault record (device.h): the Net sets it before each layer (K.set_fault_tag).
inline thread_local int g_fault_tag = 0;

// cupy's current stream (for calls without arrays: synchronize, fault); the legacy default stream (0)
// without cupy (another library's device arrays).
inline cudaStream_t current_stream() {
  py::object cupy;
  try {
    cupy = py::module_::import("cupy");
  } catch (const py::error_already_set&) {
    return nullptr;
  }
  return reinterpret_cast<cudaStream_t>(cupy.attr("cuda").attr("get_current_stream")().attr("ptr").cast<uintptr_t>());
}
}  // namespace lrcn::bind

namespace pybind11 {
namespace detail {
template <>
struct type_caster<lrcn::bind::Arr> {
  PYBIND11_TYPE_CASTER(lrcn::bind::Arr, const_name("ndarray"));
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
    // Version 3's stream: the producer's current stream (1 and 2 are the legacy and per-thread default
    // streams, as cudaStreamLegacy and cudaStreamPerThread are); absent or None when export is off.
    object stream = d.contains("stream") ? object(d["stream"]) : object(none());
    lrcn::bind::g_stream = stream.is_none() ? lrcn::bind::current_stream()
                                            : reinterpret_cast<cudaStream_t>(stream.cast<uintptr_t>());
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
  static handle cast(const lrcn::bind::Arr&, return_value_policy, handle) { return none().release(); }
};
}  // namespace detail
}  // namespace pybind11

namespace lrcn::bind {
inline std::string describe(const Arr& a) {
  std::string s = std::string(a.gpu ? "device" : "host") + " array " + a.typestr + " (";
  for (size_t i = 0; i < a.shape.size(); ++i) s += (i ? "x" : "") + std::to_string(a.shape[i]);
  return s + ")";
}

inline void check_array(const Arr& a, const char* fn, const char* name, const char* typestr) {
  if (a.typestr != typestr)
    throw std::invalid_argument(std::string(fn) + ": " + name + " must be " + typestr + ", got " + describe(a));
  if (!a.contiguous)
    throw std::invalid_argument(std::string(fn) + ": " + name + " must be C-contiguous, got " + describe(a));
}
inline float* F(const Arr& a, const char* fn, const char* name) {
  check_array(a, fn, name, "<f4");
  if (a.readonly) throw std::invalid_argument(std::string(fn) + ": " + name + " is read-only");
  return static_cast<float*>(a.ptr);
}
inline const float* CF(const Arr& a, const char* fn, const char* name) {
  check_array(a, fn, name, "<f4");
  return static_cast<const float*>(a.ptr);
}
inline void expect_count(const Arr& a, int64_t n, const char* fn, const char* name) {
  if (a.count != n)
    throw std::invalid_argument(std::string(fn) + ": " + name + " must have " + std::to_string(n) +
                                " elements, got " + describe(a));
}
// All arrays of one call live on one device; returns true for the GPU.
inline bool same_device(const char* fn, std::initializer_list<const Arr*> arrays) {
  const bool gpu = (*arrays.begin())->gpu;
  for (const Arr* a : arrays)
    if (a->gpu != gpu) throw std::invalid_argument(std::string(fn) + ": host and device arrays mixed");
  return gpu;
}
inline int to_int(int64_t v, const char* fn) {
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
inline Elementwise elementwise_forward(const char* fn, const Arr& top, const Arr& bottom) {
  expect_count(top, bottom.count, fn, "top");
  const bool gpu = same_device(fn, {&top, &bottom});
  return {F(top, fn, "top"), CF(bottom, fn, "bottom"), nullptr, bottom.count, gpu};
}
inline Elementwise elementwise_backward(const char* fn, const Arr& bottom_diff, const Arr& top_diff, const Arr& x,
                                        const char* x_name) {
  expect_count(bottom_diff, x.count, fn, "bottom_diff");
  expect_count(top_diff, x.count, fn, "top_diff");
  const bool gpu = same_device(fn, {&bottom_diff, &top_diff, &x});
  return {F(bottom_diff, fn, "bottom_diff"), CF(top_diff, fn, "top_diff"), CF(x, fn, x_name), x.count, gpu};
}

// Optional arrays (None): an absent static input or bias, a gradient nobody asked for.
using OptArr = std::optional<Arr>;
struct Opt {
  static float* w(const OptArr& a, const char* fn, const char* name) { return a ? F(*a, fn, name) : nullptr; }
  static const float* r(const OptArr& a, const char* fn, const char* name) { return a ? CF(*a, fn, name) : nullptr; }
  static void count(const OptArr& a, int64_t n, const char* fn, const char* name) {
    if (a) expect_count(*a, n, fn, name);
  }
  static const Arr* or_(const OptArr& a, const Arr& present) { return a ? &*a : &present; }  // for same_device
};

// The softmax family's axis: canonical (0 <= axis < ndim, Python resolves negative ones); the blob is
// outer × channels × inner.
struct AxisDims {
  int outer, channels, inner;
};
inline AxisDims axis_dims(const Arr& a, int axis, const char* fn) {
  if (axis < 0 || axis >= static_cast<int>(a.shape.size()))
    throw std::invalid_argument(std::string(fn) + ": axis " + std::to_string(axis) + " out of range for " + describe(a));
  int64_t outer = 1, inner = 1;
  for (int k = 0; k < axis; ++k) outer *= a.shape[k];
  for (size_t k = axis + 1; k < a.shape.size(); ++k) inner *= a.shape[k];
  return AxisDims{to_int(outer, fn), to_int(a.shape[axis], fn), to_int(inner, fn)};
}
}  // namespace lrcn::bind

#ifdef LRCN_WITH_CUDA
#define LRCN_GPU(call)        \
  do {                        \
    call;                     \
    LRCN_CUDA_LAUNCH_CHECK(); \
  } while (0)
#else
#define LRCN_GPU(call) throw std::runtime_error("lrcn_native._C was built without CUDA; GPU arrays need lrcn_native._cuda")
#endif
