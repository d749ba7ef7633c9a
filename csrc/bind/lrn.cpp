// Bindings of local response normalization.
#include "bind/common.h"
#include "layers/lrn.h"

namespace lrcn::bind {

void bind_lrn(py::module_& m) {
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
  }, py::arg("top"), py::arg("scale"), py::arg("bottom"), py::arg("local_size"), py::arg("alpha"), py::arg("beta"),
        py::arg("k"), py::arg("region"));
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
  }, py::arg("bottom_diff"), py::arg("top_diff"), py::arg("top"), py::arg("scale"), py::arg("bottom"),
        py::arg("local_size"), py::arg("alpha"), py::arg("beta"), py::arg("k"), py::arg("region"));
}

}  // namespace lrcn::bind
