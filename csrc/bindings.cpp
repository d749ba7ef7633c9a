// The one boundary between Python and the kernels. Compiled twice: as lrcn_native._C (CPU only) and,
// with LRCN_WITH_CUDA, as lrcn_native._cuda (CPU and GPU), each time with the binding files in bind/:
// bind/<stem>.cpp binds one stem's kernels (bind_<stem>), with the arrays' checks of bind/common.h. Every
// function takes arrays that expose the buffer protocol (numpy, host) or __cuda_array_interface__ (cupy,
// device), checks dtype, contiguity, device and element counts once, then releases the GIL and calls the
// kernel chosen by the arrays' device. Kernels never see Python objects.
#include "bind/common.h"

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
#define MODULE_NAME _cuda
#else
#define MODULE_NAME _C
#endif

PYBIND11_MODULE(MODULE_NAME, m) {
  using namespace lrcn::bind;
  m.doc() = "lrcn_native kernels (CPU; and CUDA in _cuda)";
#ifdef LRCN_WITH_CUDA
  m.attr("has_cuda") = true;
  m.def("set_stream", [](uintptr_t stream) { g_stream = reinterpret_cast<cudaStream_t>(stream); }, py::arg("stream"));
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
  m.def("set_stream", [](uintptr_t) {}, py::arg("stream"));
  m.def("device_count", [] { return 0; });
  m.def("synchronize", [] {});
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
