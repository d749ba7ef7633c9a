// Bindings of max and average pooling.
#include "bind/common.h"
#include "layers/pooling.h"

namespace lrcn::bind {

void bind_pooling(py::module_& m) {
  // (size, kernel, stride, pad, ceil_mode): Caffe's pooled size along one axis.
  m.def("pooling_output_size", &pooling_output_size, py::arg("size"), py::arg("kernel"), py::arg("stride"),
        py::arg("pad"), py::arg("ceil_mode"));
  // The geometry of bottom (N×C×H×W) and top (N×C×PH×PW) under the given window; every window must
  // overlap the image.
  auto pool_geometry = [](const char* fn, PoolMethod method, const Arr& bottom, const Arr& top, int kernel_h,
                          int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w) {
    if (bottom.shape.size() != 4 || top.shape.size() != 4 || top.shape[0] != bottom.shape[0] ||
        top.shape[1] != bottom.shape[1])
      throw std::invalid_argument(std::string(fn) + ": bottom and top must be N×C×H×W and N×C×PH×PW, got " +
                                  describe(bottom) + ", " + describe(top));
    if (kernel_h <= 0 || kernel_w <= 0 || stride_h <= 0 || stride_w <= 0 || pad_h < 0 || pad_w < 0 ||
        pad_h >= kernel_h || pad_w >= kernel_w)
      throw std::invalid_argument(std::string(fn) + ": needs kernel > 0, stride > 0 and 0 <= pad < kernel");
    PoolGeometry g;
    g.num = to_int(bottom.shape[0], fn), g.channels = to_int(bottom.shape[1], fn);
    g.height = to_int(bottom.shape[2], fn), g.width = to_int(bottom.shape[3], fn);
    g.pooled_h = to_int(top.shape[2], fn), g.pooled_w = to_int(top.shape[3], fn);
    g.kernel_h = kernel_h, g.kernel_w = kernel_w, g.stride_h = stride_h, g.stride_w = stride_w;
    g.pad_h = pad_h, g.pad_w = pad_w;
    if (g.pooled_h < 1 || g.pooled_w < 1 || (int64_t)(g.pooled_h - 1) * stride_h - pad_h >= g.height ||
        (int64_t)(g.pooled_w - 1) * stride_w - pad_w >= g.width)
      throw std::invalid_argument(std::string(fn) + ": top " + describe(top) + " has windows outside " +
                                  describe(bottom));
    if (method == PoolMethod::kMax && (int64_t)g.height * g.width > (1 << 24))
      throw std::invalid_argument(std::string(fn) + ": planes over 2^24 cells (mask indices are float32)");
    return g;
  };
  auto pool_method = [](const char* fn, const std::string& method, const std::optional<Arr>& mask) {
    if (method != "MAX" && method != "AVE") throw std::invalid_argument(std::string(fn) + ": method must be MAX or AVE");
    if ((method == "MAX") != mask.has_value())
      throw std::invalid_argument(std::string(fn) + ": MAX takes a mask array, AVE takes None");
    return method == "MAX" ? PoolMethod::kMax : PoolMethod::kAve;
  };
  // top, mask (MAX only: argmax index h·W + w as float, else None): N×C×PH×PW; bottom: N×C×H×W.
  m.def("pooling_forward", [pool_geometry, pool_method](Arr top, std::optional<Arr> mask, Arr bottom,
                                                        const std::string& method, int kernel_h, int kernel_w,
                                                        int stride_h, int stride_w, int pad_h, int pad_w) {
    const char* fn = "pooling_forward";
    const PoolMethod pm = pool_method(fn, method, mask);
    const PoolGeometry g = pool_geometry(fn, pm, bottom, top, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w);
    const bool gpu = mask ? same_device(fn, {&top, &*mask, &bottom}) : same_device(fn, {&top, &bottom});
    if (mask) expect_count(*mask, top.count, fn, "mask");
    float* t = F(top, fn, "top");
    float* mk = mask ? F(*mask, fn, "mask") : nullptr;
    const float* b = CF(bottom, fn, "bottom");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(pooling_forward_gpu(t, mk, b, g, pm, g_stream));
    else pooling_forward_cpu(t, mk, b, g, pm);
  }, py::arg("top"), py::arg("mask"), py::arg("bottom"), py::arg("method"), py::arg("kernel_h"), py::arg("kernel_w"),
        py::arg("stride_h"), py::arg("stride_w"), py::arg("pad_h"), py::arg("pad_w"));
  // bottom_diff: N×C×H×W (overwritten); top_diff, mask (MAX only, from pooling_forward): N×C×PH×PW.
  m.def("pooling_backward", [pool_geometry, pool_method](Arr bottom_diff, Arr top_diff, std::optional<Arr> mask,
                                                         const std::string& method, int kernel_h, int kernel_w,
                                                         int stride_h, int stride_w, int pad_h, int pad_w) {
    const char* fn = "pooling_backward";
    const PoolMethod pm = pool_method(fn, method, mask);
    const PoolGeometry g =
        pool_geometry(fn, pm, bottom_diff, top_diff, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w);
    const bool gpu =
        mask ? same_device(fn, {&bottom_diff, &top_diff, &*mask}) : same_device(fn, {&bottom_diff, &top_diff});
    if (mask) expect_count(*mask, top_diff.count, fn, "mask");
    float* bd = F(bottom_diff, fn, "bottom_diff");
    const float* td = CF(top_diff, fn, "top_diff");
    const float* mk = mask ? CF(*mask, fn, "mask") : nullptr;
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(pooling_backward_gpu(bd, td, mk, g, pm, g_stream));
    else pooling_backward_cpu(bd, td, mk, g, pm);
  }, py::arg("bottom_diff"), py::arg("top_diff"), py::arg("mask"), py::arg("method"), py::arg("kernel_h"),
        py::arg("kernel_w"), py::arg("stride_h"), py::arg("stride_w"), py::arg("pad_h"), py::arg("pad_w"));
}

}  // namespace lrcn::bind
