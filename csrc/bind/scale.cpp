// Bindings of the channel-wise kernels (Scale, Bias, BatchNorm): arrays are viewed as (outer, C, inner).
#include "bind/common.h"
#include "layers/scale.h"

namespace lrcn::bind {

namespace {
const float* optional_channels(const std::optional<Arr>& a, int64_t channels, bool gpu, const char* fn,
                               const char* name) {
  if (!a) return nullptr;
  expect_count(*a, channels, fn, name);
  if (a->gpu != gpu) throw std::invalid_argument(std::string(fn) + ": host and device arrays mixed");
  return CF(*a, fn, name);
}
void check_dims(int64_t outer, int64_t channels, int64_t inner, const char* fn) {
  if (outer < 0 || channels < 0 || inner < 0) throw std::invalid_argument(std::string(fn) + ": negative dimension");
}
}  // namespace

void bind_scale(py::module_& m) {
  m.def("scale_forward", [](Arr top, Arr bottom, std::optional<Arr> scale, std::optional<Arr> bias, int64_t outer,
                            int64_t channels, int64_t inner) {
    const char* fn = "scale_forward";
    check_dims(outer, channels, inner, fn);
    expect_count(bottom, outer * channels * inner, fn, "bottom");
    expect_count(top, bottom.count, fn, "top");
    const bool gpu = same_device(fn, {&top, &bottom});
    float* y = F(top, fn, "top");
    const float* x = CF(bottom, fn, "bottom");
    const float* s = optional_channels(scale, channels, gpu, fn, "scale");
    const float* b = optional_channels(bias, channels, gpu, fn, "bias");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(scale_forward_gpu(y, x, s, b, outer, channels, inner, g_stream));
    else scale_forward_cpu(y, x, s, b, outer, channels, inner);
  }, py::arg("top"), py::arg("bottom"), py::arg("scale"), py::arg("bias"), py::arg("outer"), py::arg("channels"),
     py::arg("inner"));
  m.def("channel_sum", [](Arr out, Arr a, std::optional<Arr> b, int64_t outer, int64_t channels, int64_t inner,
                          float beta) {
    const char* fn = "channel_sum";
    check_dims(outer, channels, inner, fn);
    expect_count(out, channels, fn, "out");
    expect_count(a, outer * channels * inner, fn, "a");
    const bool gpu = same_device(fn, {&out, &a});
    float* o = F(out, fn, "out");
    const float* ap = CF(a, fn, "a");
    const float* bp = nullptr;
    if (b) {
      expect_count(*b, a.count, fn, "b");
      if (b->gpu != gpu) throw std::invalid_argument(std::string(fn) + ": host and device arrays mixed");
      bp = CF(*b, fn, "b");
    }
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(channel_sum_gpu(o, ap, bp, outer, channels, inner, beta, g_stream));
    else channel_sum_cpu(o, ap, bp, outer, channels, inner, beta);
  }, py::arg("out"), py::arg("a"), py::arg("b"), py::arg("outer"), py::arg("channels"), py::arg("inner"),
     py::arg("beta"));
}

}  // namespace lrcn::bind
