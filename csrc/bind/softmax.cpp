// Bindings of Softmax.
#include "bind/common.h"
#include "layers/softmax.h"

namespace lrcn::bind {

void bind_softmax(py::module_& m) {
  m.def("softmax_forward", [](Arr top, Arr bottom, int axis) {
    const char* fn = "softmax_forward";
    const AxisDims d = axis_dims(bottom, axis, fn);
    expect_count(top, bottom.count, fn, "top");
    const bool gpu = same_device(fn, {&top, &bottom});
    const float* b = CF(bottom, fn, "bottom");
    float* t = F(top, fn, "top");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(softmax_forward_gpu(t, b, d.outer, d.channels, d.inner, g_stream));
    else softmax_forward_cpu(t, b, d.outer, d.channels, d.inner);
  }, py::arg("top"), py::arg("bottom"), py::arg("axis"));
  m.def("softmax_backward", [](Arr bottom_diff, Arr top_diff, Arr top, int axis) {
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
  }, py::arg("bottom_diff"), py::arg("top_diff"), py::arg("top"), py::arg("axis"));
}

}  // namespace lrcn::bind
