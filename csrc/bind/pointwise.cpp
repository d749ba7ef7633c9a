// Bindings of the pointwise neuron ops (AbsVal, BNLL, ELU, Exp, Log, Power, Threshold); op numbers as in
// csrc/layers/pointwise.h.
#include "bind/common.h"
#include "layers/pointwise.h"

namespace lrcn::bind {

namespace {
void check_op(int op, const char* fn) {
  if (op < ABSVAL || op > THRESHOLD) throw std::invalid_argument(std::string(fn) + ": unknown op " + std::to_string(op));
}
}  // namespace

void bind_pointwise(py::module_& m) {
  m.def("pointwise_forward", [](Arr top, Arr bottom, int op, float p0, float p1, float p2) {
    check_op(op, "pointwise_forward");
    const Elementwise e = elementwise_forward("pointwise_forward", top, bottom);
    py::gil_scoped_release nogil;
    if (e.gpu) LRCN_GPU(pointwise_forward_gpu(e.out, e.a, e.n, op, p0, p1, p2, g_stream));
    else pointwise_forward_cpu(e.out, e.a, e.n, op, p0, p1, p2);
  }, py::arg("top"), py::arg("bottom"), py::arg("op"), py::arg("p0"), py::arg("p1"), py::arg("p2"));
  m.def("pointwise_backward", [](Arr bottom_diff, Arr top_diff, Arr bottom, Arr top, int op, float p0, float p1,
                                 float p2) {
    const char* fn = "pointwise_backward";
    check_op(op, fn);
    const Elementwise e = elementwise_backward(fn, bottom_diff, top_diff, bottom, "bottom");
    expect_count(top, bottom.count, fn, "top");
    if (top.gpu != e.gpu) throw std::invalid_argument(std::string(fn) + ": host and device arrays mixed");
    const float* y = CF(top, fn, "top");
    py::gil_scoped_release nogil;
    if (e.gpu) LRCN_GPU(pointwise_backward_gpu(e.out, e.a, e.b, y, e.n, op, p0, p1, p2, g_stream));
    else pointwise_backward_cpu(e.out, e.a, e.b, y, e.n, op, p0, p1, p2);
  }, py::arg("bottom_diff"), py::arg("top_diff"), py::arg("bottom"), py::arg("top"), py::arg("op"), py::arg("p0"),
     py::arg("p1"), py::arg("p2"));
}

}  // namespace lrcn::bind
