// Bindings of PReLU: arrays viewed as (outer, channels, inner), the slope has `channels` elements.
#include "bind/common.h"
#include "layers/prelu.h"

namespace lrcn::bind {

void bind_prelu(py::module_& m) {
  m.def("prelu_forward", [](Arr top, Arr bottom, Arr slope, int64_t outer, int64_t channels, int64_t inner) {
    const char* fn = "prelu_forward";
    if (outer < 0 || channels < 1 || inner < 0) throw std::invalid_argument(std::string(fn) + ": bad dimensions");
    expect_count(bottom, outer * channels * inner, fn, "bottom");
    expect_count(top, bottom.count, fn, "top");
    expect_count(slope, channels, fn, "slope");
    const bool gpu = same_device(fn, {&top, &bottom, &slope});
    float* y = F(top, fn, "top");
    const float *x = CF(bottom, fn, "bottom"), *a = CF(slope, fn, "slope");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(prelu_forward_gpu(y, x, a, outer, channels, inner, g_stream));
    else prelu_forward_cpu(y, x, a, outer, channels, inner);
  }, py::arg("top"), py::arg("bottom"), py::arg("slope"), py::arg("outer"), py::arg("channels"), py::arg("inner"));
  m.def("prelu_backward", [](OptArr bottom_diff, OptArr slope_terms, Arr top_diff, Arr bottom, Arr slope,
                             int64_t outer, int64_t channels, int64_t inner) {
    const char* fn = "prelu_backward";
    if (outer < 0 || channels < 1 || inner < 0) throw std::invalid_argument(std::string(fn) + ": bad dimensions");
    expect_count(bottom, outer * channels * inner, fn, "bottom");
    expect_count(top_diff, bottom.count, fn, "top_diff");
    expect_count(slope, channels, fn, "slope");
    Opt::count(bottom_diff, bottom.count, fn, "bottom_diff");
    Opt::count(slope_terms, bottom.count, fn, "slope_terms");
    const bool gpu = same_device(fn, {&top_diff, &bottom, &slope, Opt::or_(bottom_diff, bottom),
                                      Opt::or_(slope_terms, bottom)});
    float *dx = Opt::w(bottom_diff, fn, "bottom_diff"), *terms = Opt::w(slope_terms, fn, "slope_terms");
    const float *dy = CF(top_diff, fn, "top_diff"), *x = CF(bottom, fn, "bottom"), *a = CF(slope, fn, "slope");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(prelu_backward_gpu(dx, terms, dy, x, a, outer, channels, inner, g_stream));
    else prelu_backward_cpu(dx, terms, dy, x, a, outer, channels, inner);
  }, py::arg("bottom_diff"), py::arg("slope_terms"), py::arg("top_diff"), py::arg("bottom"), py::arg("slope"),
     py::arg("outer"), py::arg("channels"), py::arg("inner"));
}

}  // namespace lrcn::bind
