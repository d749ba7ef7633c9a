// Bindings of set, axpby, dot and sumsq on whole arrays.
#include "bind/common.h"
#include "math.h"

namespace lrcn::bind {

void bind_math(py::module_& m) {
  m.def("set", [](Arr y, float value) {
    float* p = F(y, "set", "y");
    py::gil_scoped_release nogil;
    if (y.gpu) LRCN_GPU(set_gpu(p, y.count, value, g_stream));
    else set_cpu(p, y.count, value);
  }, py::arg("y"), py::arg("value"));
  m.def("axpby", [](Arr y, Arr x, float a, float b) {  // y = a·x + b·y
    const char* fn = "axpby";
    expect_count(y, x.count, fn, "y");
    const bool gpu = same_device(fn, {&y, &x});
    float* yp = F(y, fn, "y");
    const float* xp = CF(x, fn, "x");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(axpby_gpu(yp, xp, y.count, a, b, g_stream));
    else axpby_cpu(yp, xp, y.count, a, b);
  }, py::arg("y"), py::arg("x"), py::arg("a"), py::arg("b"));
  m.def("dot", [](Arr x, Arr y) {
    const char* fn = "dot";
    expect_count(y, x.count, fn, "y");
    const bool gpu = same_device(fn, {&x, &y});
    const float *xp = CF(x, fn, "x"), *yp = CF(y, fn, "y");
    py::gil_scoped_release nogil;
    double r = 0;
    if (gpu) LRCN_GPU(r = dot_many_gpu(&xp, &yp, &x.count, 1, g_stream));
    else r = dot_cpu(xp, yp, x.count);
    return r;
  }, py::arg("x"), py::arg("y"));
  // Σ over the arrays of Σ x², in double, in the arrays' order: all on the host or all on the device (one
  // copy to the host for the lot). The solver's clipping norm and NaN check.
  m.def("sumsq", [](std::vector<Arr> xs) {
    const char* fn = "sumsq";
    std::vector<const float*> ptrs;
    std::vector<int64_t> counts;
    bool gpu = false;
    for (const Arr& x : xs) {
      if (ptrs.empty()) gpu = x.gpu;
      else if (x.gpu != gpu) throw std::invalid_argument("sumsq: host and device arrays mixed");
      ptrs.push_back(CF(x, fn, "x"));
      counts.push_back(x.count);
    }
    py::gil_scoped_release nogil;
    double r = 0;
    if (gpu) LRCN_GPU(r = dot_many_gpu(ptrs.data(), ptrs.data(), counts.data(), (int)ptrs.size(), g_stream));
    else for (size_t i = 0; i < ptrs.size(); ++i) r += dot_cpu(ptrs[i], ptrs[i], counts[i]);
    return r;
  }, py::arg("xs"));
}

}  // namespace lrcn::bind
