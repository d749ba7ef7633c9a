// The one boundary between Python and the kernels. Compiled twice: as lrcn_native._C (CPU only) and,
// with LRCN_WITH_CUDA, as lrcn_native._cuda (CPU and GPU), each time with the binding files in bind/:
// bind/<stem>.cpp binds one stem's kernels (bind_<stem>), with the arrays' checks of bind/common.h. Every
// function takes arrays that expose the buffer protocol (numpy, host) or __cuda_array_interface__ (cupy,
// device), checks dtype, contiguity, device and element counts once, then releases the GIL and calls the
// kernel chosen by the arrays' device. Kernels never see Python objects.
#include "bind/common.h"
#include "device.h"

namespace lrcn::bind {
void bind_gemm(py::module_& m);
void bind_math(py::module_& m);
void bind_relu(py::module_& m);
void bind_conv(py::module_& m);
void bind_pooling(py::module_& m);
void bind_lrn(py::module_& m);
void bind_neuron(py::module_& m);
void bind_softmax(py::module_& m);
void bind_softmax_loss(py::module_& m);
void bind_accuracy(py::module_& m);
void bind_concat(py::module_& m);
void bind_eltwise(py::module_& m);
void bind_embed(py::module_& m);
void bind_lstm(py::module_& m);
void bind_rnn(py::module_& m);
void bind_sgd(py::module_& m);
void bind_scale(py::module_& m);
void bind_pointwise(py::module_& m);
void bind_prelu(py::module_& m);
void bind_sigmoid_cross_entropy(py::module_& m);
}  // namespace lrcn::bind

#ifdef LRCN_WITH_CUDA
namespace lrcn::bind {
// The error for a recorded fault, worded as the CPU path words it (bind/softmax_loss.h, layers/embed.py).
std::string fault_message(const DeviceFault& f) {
  const std::string value = py::repr(py::float_(f.value)).cast<std::string>();
  const std::string at = value + " at position " + std::to_string(f.position);
  switch (static_cast<FaultKind>(f.kind)) {
    case FaultKind::kEmbedIndex:
      return "index " + at + " of bottom 0 is not an integer in [0, " + std::to_string(f.limit) +
             ") (input_dim) or -1 (padding)";
    case FaultKind::kSoftmaxLossLabel:
    case FaultKind::kAccuracyLabel: {
      const char* fn = static_cast<FaultKind>(f.kind) == FaultKind::kAccuracyLabel ? "accuracy_forward"
                                                                                   : "softmax_loss_forward";
      std::string msg = std::string(fn) + ": label " + at + " is not an integer in [0, " + std::to_string(f.limit) + ")";
      if (f.has_ignore) msg += " nor ignore_label " + std::to_string(f.ignore_label);
      return msg;
    }
    default: return "unknown fault kind " + std::to_string(f.kind);
  }
}
}  // namespace lrcn::bind
#define MODULE_NAME _cuda
#else
#define MODULE_NAME _C
#endif

PYBIND11_MODULE(MODULE_NAME, m) {
  using namespace lrcn;
  using namespace lrcn::bind;
  m.doc() = "lrcn_native kernels (CPU; and CUDA in _cuda)";
#ifdef LRCN_WITH_CUDA
  m.attr("has_cuda") = true;
  m.def("device_count", [] {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      cudaGetLastError();
      return 0;
    }
    return n;
  });
  // The device our kernels launch on (cupy's Device.use() sets its own runtime's; mode.set_device sets both).
  m.def("set_device", [](int device) { LRCN_CUDA_CHECK(cudaSetDevice(device)); }, py::arg("device"));
  m.def("synchronize", [] {
    cudaStream_t stream = current_stream();
    py::gil_scoped_release nogil;
    LRCN_CUDA_CHECK(cudaStreamSynchronize(stream));
  });
  m.def("set_fault_tag", [](int tag) { g_fault_tag = tag; }, py::arg("tag"));
  // Synchronises cupy's current stream, then returns and clears the fault record (device.h): None, or
  // (tag, message) for the first bad input a kernel met since the last call.
  m.def("fault", []() -> py::object {
    cudaStream_t stream = current_stream();
    DeviceFault seen;
    {
      py::gil_scoped_release nogil;
      seen = fault_take(stream);
    }
    if (seen.kind == 0) return py::none();
    return py::make_tuple(seen.tag, fault_message(seen));
  });
  m.attr("cuda_architectures") = LRCN_CUDA_ARCHITECTURES;  // CMAKE_CUDA_ARCHITECTURES of this build, e.g. "90"
  m.def("device_properties", [](int device) {
    cudaDeviceProp p;
    LRCN_CUDA_CHECK(cudaGetDeviceProperties(&p, device));
    int runtime = 0, driver = 0;
    LRCN_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
    LRCN_CUDA_CHECK(cudaDriverGetVersion(&driver));
    py::dict d;
    d["name"] = std::string(p.name);
    d["total_memory"] = static_cast<size_t>(p.totalGlobalMem);
    d["compute_capability"] = py::make_tuple(p.major, p.minor);
    d["multiprocessors"] = p.multiProcessorCount;
    d["runtime_version"] = runtime;  // 1000 * major + 10 * minor
    d["driver_version"] = driver;
    return d;
  }, py::arg("device"));
#else
  m.attr("cuda_architectures") = "";
  m.attr("has_cuda") = false;
  m.def("device_count", [] { return 0; });
  m.def("set_device", [](int) { throw std::runtime_error("lrcn_native._C was built without CUDA"); },
        py::arg("device"));
  m.def("synchronize", [] {});
  m.def("set_fault_tag", [](int) {}, py::arg("tag"));
  m.def("fault", [] { return py::none(); });
#endif
  bind_gemm(m);
  bind_math(m);
  bind_relu(m);
  bind_conv(m);
  bind_pooling(m);
  bind_lrn(m);
  bind_neuron(m);
  bind_softmax(m);
  bind_softmax_loss(m);
  bind_accuracy(m);
  bind_concat(m);
  bind_eltwise(m);
  bind_embed(m);
  bind_lstm(m);
  bind_rnn(m);
  bind_sgd(m);
  bind_scale(m);
  bind_pointwise(m);
  bind_prelu(m);
  bind_sigmoid_cross_entropy(m);
}
