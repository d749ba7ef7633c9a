// Bindings of convolution.
#include "bind/common.h"
#include "layers/conv.h"

namespace lrcn::bind {

void bind_conv(py::module_& m) {
  // geom = [kernel_h, kernel_w, pad_h, pad_w, stride_h, stride_w, dilation_h, dilation_w, group];
  // bottom N×C×H×W, weight M×(C/group)×kh×kw, top N×M×Ho×Wo (4-D views: the layer folds the axes
  // before its channel axis into N). scratch: the GPU's column buffer, at least one frame
  // (conv_gpu_scratch_per_frame); None on the CPU, whose threads allocate their own columns.
  auto conv_geom = [](const char* fn, const Arr& top, const Arr& bottom, const Arr& weight,
                      const std::vector<int>& p, const std::optional<Arr>& scratch, bool gpu) {
    auto fail = [fn](const std::string& msg) { throw std::invalid_argument(std::string(fn) + ": " + msg); };
    if (p.size() != 9) fail("geom must be [kh, kw, ph, pw, sh, sw, dh, dw, group]");
    if (bottom.shape.size() != 4 || top.shape.size() != 4 || weight.shape.size() != 4)
      fail("bottom, top and weight must be 4-D, got " + describe(bottom) + ", " + describe(top) + ", " +
           describe(weight));
    ConvGeom g;
    g.N = to_int(bottom.shape[0], fn), g.C = to_int(bottom.shape[1], fn);
    g.H = to_int(bottom.shape[2], fn), g.W = to_int(bottom.shape[3], fn);
    g.M = to_int(weight.shape[0], fn);
    if (g.M == 0) fail("num_output must be positive (weight " + describe(weight) + ")");
    g.kh = p[0], g.kw = p[1], g.ph = p[2], g.pw = p[3], g.sh = p[4], g.sw = p[5], g.dh = p[6], g.dw = p[7];
    g.group = p[8];
    if (g.kh <= 0 || g.kw <= 0 || g.sh <= 0 || g.sw <= 0 || g.dh <= 0 || g.dw <= 0 || g.ph < 0 || g.pw < 0)
      fail("kernel, stride and dilation must be positive and pad non-negative");
    if (g.group <= 0 || g.C % g.group || g.M % g.group) fail("group must divide channels and num_output");
    if (weight.shape[1] != g.C / g.group || weight.shape[2] != g.kh || weight.shape[3] != g.kw)
      fail("weight " + describe(weight) + " does not match the channels, group and kernel");
    const int64_t eh = (int64_t)g.H + 2 * g.ph - ((int64_t)g.dh * (g.kh - 1) + 1);
    const int64_t ew = (int64_t)g.W + 2 * g.pw - ((int64_t)g.dw * (g.kw - 1) + 1);
    if (eh < 0 || ew < 0) fail("the dilated kernel is larger than the padded input " + describe(bottom));
    g.Ho = to_int(eh / g.sh + 1, fn), g.Wo = to_int(ew / g.sw + 1, fn);
    if (top.shape[0] != g.N || top.shape[1] != g.M || top.shape[2] != g.Ho || top.shape[3] != g.Wo)
      fail("top " + describe(top) + " must be " + std::to_string(g.N) + "x" + std::to_string(g.M) + "x" +
           std::to_string(g.Ho) + "x" + std::to_string(g.Wo));
    if (gpu && (!scratch || scratch->count < conv_gpu_scratch_per_frame(g)))
      fail("the GPU needs a scratch array of at least " + std::to_string(conv_gpu_scratch_per_frame(g)) +
           " floats" + (scratch ? ", got " + describe(*scratch) : std::string()));
    if (!gpu && scratch) fail("scratch is for the GPU only (pass None)");
    return g;
  };
  // Optional arrays must live where the others do.
  auto conv_device = [](const char* fn, std::initializer_list<const Arr*> required,
                        std::initializer_list<const std::optional<Arr>*> optional) {
    const bool gpu = same_device(fn, required);
    for (auto* o : optional)
      if (*o && (*o)->gpu != gpu) throw std::invalid_argument(std::string(fn) + ": host and device arrays mixed");
    return gpu;
  };
  m.def("conv_forward", [conv_geom, conv_device](Arr top, Arr bottom, Arr weight, std::optional<Arr> bias,
                                                 std::optional<Arr> scratch, std::vector<int> geom) {
    const char* fn = "conv_forward";
    const bool gpu = conv_device(fn, {&top, &bottom, &weight}, {&bias, &scratch});
    const ConvGeom g = conv_geom(fn, top, bottom, weight, geom, scratch, gpu);
    if (bias) expect_count(*bias, g.M, fn, "bias");
    float* t = F(top, fn, "top");
    float* s = scratch ? F(*scratch, fn, "scratch") : nullptr;
    const float *b = CF(bottom, fn, "bottom"), *w = CF(weight, fn, "weight");
    const float* bi = bias ? CF(*bias, fn, "bias") : nullptr;
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(conv_forward_gpu(t, b, w, bi, s, scratch->count, g, g_stream));
    else conv_forward_cpu(t, b, w, bi, g);
  }, py::arg("top"), py::arg("bottom"), py::arg("weight"), py::arg("bias"), py::arg("scratch"), py::arg("geom"));
  // None skips an output; weight_diff and bias_diff accumulate, bottom_diff is overwritten.
  m.def("conv_backward", [conv_geom, conv_device](std::optional<Arr> bottom_diff, std::optional<Arr> weight_diff,
                                                  std::optional<Arr> bias_diff, Arr top_diff, Arr bottom,
                                                  Arr weight, std::optional<Arr> scratch, std::vector<int> geom) {
    const char* fn = "conv_backward";
    const bool gpu =
        conv_device(fn, {&top_diff, &bottom, &weight}, {&bottom_diff, &weight_diff, &bias_diff, &scratch});
    const ConvGeom g = conv_geom(fn, top_diff, bottom, weight, geom, scratch, gpu);
    if (bottom_diff) expect_count(*bottom_diff, bottom.count, fn, "bottom_diff");
    if (weight_diff) expect_count(*weight_diff, weight.count, fn, "weight_diff");
    if (bias_diff) expect_count(*bias_diff, g.M, fn, "bias_diff");
    float* bd = bottom_diff ? F(*bottom_diff, fn, "bottom_diff") : nullptr;
    float* wd = weight_diff ? F(*weight_diff, fn, "weight_diff") : nullptr;
    float* bid = bias_diff ? F(*bias_diff, fn, "bias_diff") : nullptr;
    float* s = scratch ? F(*scratch, fn, "scratch") : nullptr;
    const float *td = CF(top_diff, fn, "top_diff"), *b = CF(bottom, fn, "bottom"), *w = CF(weight, fn, "weight");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(conv_backward_gpu(bd, wd, bid, td, b, w, s, scratch->count, g, g_stream));
    else conv_backward_cpu(bd, wd, bid, td, b, w, g);
  }, py::arg("bottom_diff"), py::arg("weight_diff"), py::arg("bias_diff"), py::arg("top_diff"), py::arg("bottom"),
        py::arg("weight"), py::arg("scratch"), py::arg("geom"));
}

}  // namespace lrcn::bind
