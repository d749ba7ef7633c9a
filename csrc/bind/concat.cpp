// Bindings of Concat and Slice.
#include "bind/common.h"
#include "layers/concat.h"

namespace lrcn::bind {

void bind_concat(py::module_& m) {
  // Concat/Slice block copies. `whole` (the concatenated blob) and `part` (one piece) agree in every axis
  // but `axis`, where part occupies [offset, offset + part.shape[axis]) of whole. Returns the copy's
  // rows, width, whole's row stride and the element offset of the block in whole (layers/concat.h).
  struct Block { int64_t rows, width, stride, start; };
  auto block = [](const Arr& whole, const Arr& part, int axis, int64_t offset, const char* fn) {
    const int nd = static_cast<int>(whole.shape.size());
    if (static_cast<int>(part.shape.size()) != nd || axis < 0 || axis >= nd)
      throw std::invalid_argument(std::string(fn) + ": axis " + std::to_string(axis) + " does not fit " +
                                  describe(whole) + " and " + describe(part));
    Block b{1, part.shape[axis], whole.shape[axis], offset};
    for (int d = 0; d < nd; ++d) {
      if (d != axis && whole.shape[d] != part.shape[d])
        throw std::invalid_argument(std::string(fn) + ": shapes differ outside axis " + std::to_string(axis) +
                                    ": " + describe(whole) + " and " + describe(part));
      if (d < axis) b.rows *= whole.shape[d];
      if (d > axis) b.width *= whole.shape[d], b.stride *= whole.shape[d], b.start *= whole.shape[d];
    }
    if (offset < 0 || offset + part.shape[axis] > whole.shape[axis])
      throw std::invalid_argument(std::string(fn) + ": block [" + std::to_string(offset) + ", " +
                                  std::to_string(offset + part.shape[axis]) + ") exceeds axis " +
                                  std::to_string(axis) + " of " + describe(whole));
    return b;
  };
  // top[..., offset : offset + n, ...] = bottom along axis (Concat forward, Slice backward).
  m.def("concat_forward", [block](Arr top, Arr bottom, int axis, int64_t offset) {
    const char* fn = "concat_forward";
    const Block b = block(top, bottom, axis, offset, fn);
    const bool gpu = same_device(fn, {&top, &bottom});
    float* t = F(top, fn, "top") + b.start;
    const float* s = CF(bottom, fn, "bottom");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(concat_copy_gpu(t, s, b.rows, b.width, b.stride, b.width, g_stream));
    else concat_copy_cpu(t, s, b.rows, b.width, b.stride, b.width);
  }, py::arg("top"), py::arg("bottom"), py::arg("axis"), py::arg("offset"));
  // bottom_diff = top_diff[..., offset : offset + n, ...] along axis (Concat backward, Slice forward).
  m.def("concat_backward", [block](Arr bottom_diff, Arr top_diff, int axis, int64_t offset) {
    const char* fn = "concat_backward";
    const Block b = block(top_diff, bottom_diff, axis, offset, fn);
    const bool gpu = same_device(fn, {&bottom_diff, &top_diff});
    float* d = F(bottom_diff, fn, "bottom_diff");
    const float* s = CF(top_diff, fn, "top_diff") + b.start;
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(concat_copy_gpu(d, s, b.rows, b.width, b.width, b.stride, g_stream));
    else concat_copy_cpu(d, s, b.rows, b.width, b.width, b.stride);
  }, py::arg("bottom_diff"), py::arg("top_diff"), py::arg("axis"), py::arg("offset"));
}

}  // namespace lrcn::bind
