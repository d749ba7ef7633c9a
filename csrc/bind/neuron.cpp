// Bindings of Sigmoid, TanH and Dropout.
#include "bind/common.h"
#include "layers/neuron.h"

namespace lrcn::bind {

void bind_neuron(py::module_& m) {
  // Sigmoid and TanH: forward(top, bottom), backward(bottom_diff, top_diff, top); n elements each,
  // in place allowed. Dropout at TRAIN: forward(top, bottom, ...), backward(bottom_diff, top_diff, ...)
  // with the mask recomputed from (seed, element index): see layers/neuron.h.
  m.def("sigmoid_forward", [](Arr top, Arr bottom) {
    const Elementwise e = elementwise_forward("sigmoid_forward", top, bottom);
    py::gil_scoped_release nogil;
    if (e.gpu) LRCN_GPU(sigmoid_forward_gpu(e.out, e.a, e.n, g_stream));
    else sigmoid_forward_cpu(e.out, e.a, e.n);
  }, py::arg("top"), py::arg("bottom"));
  m.def("sigmoid_backward", [](Arr bottom_diff, Arr top_diff, Arr top) {
    const Elementwise e = elementwise_backward("sigmoid_backward", bottom_diff, top_diff, top, "top");
    py::gil_scoped_release nogil;
    if (e.gpu) LRCN_GPU(sigmoid_backward_gpu(e.out, e.a, e.b, e.n, g_stream));
    else sigmoid_backward_cpu(e.out, e.a, e.b, e.n);
  }, py::arg("bottom_diff"), py::arg("top_diff"), py::arg("top"));
  m.def("tanh_forward", [](Arr top, Arr bottom) {
    const Elementwise e = elementwise_forward("tanh_forward", top, bottom);
    py::gil_scoped_release nogil;
    if (e.gpu) LRCN_GPU(tanh_forward_gpu(e.out, e.a, e.n, g_stream));
    else tanh_forward_cpu(e.out, e.a, e.n);
  }, py::arg("top"), py::arg("bottom"));
  m.def("tanh_backward", [](Arr bottom_diff, Arr top_diff, Arr top) {
    const Elementwise e = elementwise_backward("tanh_backward", bottom_diff, top_diff, top, "top");
    py::gil_scoped_release nogil;
    if (e.gpu) LRCN_GPU(tanh_backward_gpu(e.out, e.a, e.b, e.n, g_stream));
    else tanh_backward_cpu(e.out, e.a, e.b, e.n);
  }, py::arg("bottom_diff"), py::arg("top_diff"), py::arg("top"));
  m.def("dropout_forward", [](Arr top, Arr bottom, uint64_t seed, uint32_t threshold, float scale) {
    const char* fn = "dropout_forward";
    expect_count(top, bottom.count, fn, "top");
    const bool gpu = same_device(fn, {&top, &bottom});
    float* t = F(top, fn, "top");
    const float* b = CF(bottom, fn, "bottom");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(dropout_forward_gpu(t, b, bottom.count, seed, threshold, scale, g_stream));
    else dropout_forward_cpu(t, b, bottom.count, seed, threshold, scale);
  }, py::arg("top"), py::arg("bottom"), py::arg("seed"), py::arg("threshold"), py::arg("scale"));
  m.def("dropout_backward", [](Arr bottom_diff, Arr top_diff, uint64_t seed, uint32_t threshold, float scale) {
    const char* fn = "dropout_backward";
    expect_count(bottom_diff, top_diff.count, fn, "bottom_diff");
    const bool gpu = same_device(fn, {&bottom_diff, &top_diff});
    float* bd = F(bottom_diff, fn, "bottom_diff");
    const float* td = CF(top_diff, fn, "top_diff");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(dropout_backward_gpu(bd, td, top_diff.count, seed, threshold, scale, g_stream));
    else dropout_backward_cpu(bd, td, top_diff.count, seed, threshold, scale);
  }, py::arg("bottom_diff"), py::arg("top_diff"), py::arg("seed"), py::arg("threshold"), py::arg("scale"));
}

}  // namespace lrcn::bind
