// Bindings of ReLU.
#include "bind/common.h"
#include "layers/relu.h"

namespace lrcn::bind {

void bind_relu(py::module_& m) {
  m.def("relu_forward", [](Arr top, Arr bottom, float negative_slope) {
    const Elementwise e = elementwise_forward("relu_forward", top, bottom);
    py::gil_scoped_release nogil;
    if (e.gpu) LRCN_GPU(relu_forward_gpu(e.out, e.a, e.n, negative_slope, g_stream));
    else relu_forward_cpu(e.out, e.a, e.n, negative_slope);
  }, py::arg("top"), py::arg("bottom"), py::arg("negative_slope"));
  m.def("relu_backward", [](Arr bottom_diff, Arr top_diff, Arr bottom, float negative_slope) {
    const Elementwise e = elementwise_backward("relu_backward", bottom_diff, top_diff, bottom, "bottom");
    py::gil_scoped_release nogil;
    if (e.gpu) LRCN_GPU(relu_backward_gpu(e.out, e.a, e.b, e.n, negative_slope, g_stream));
    else relu_backward_cpu(e.out, e.a, e.b, e.n, negative_slope);
  }, py::arg("bottom_diff"), py::arg("top_diff"), py::arg("bottom"), py::arg("negative_slope"));
}

}  // namespace lrcn::bind
