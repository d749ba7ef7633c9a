// Bindings of Accuracy.
#include "bind/common.h"
#include "layers/accuracy.h"
#include "bind/softmax_loss.h"

namespace lrcn::bind {

void bind_accuracy(py::module_& m) {
  // accuracy: 1 element; per_class: None or `channels` elements.
  m.def("accuracy_forward", [](Arr accuracy, std::optional<Arr> per_class, Arr bottom,
                                                      Arr label, int axis, int top_k, std::optional<int> ignore_label) {
    const char* fn = "accuracy_forward";
    const AxisDims d = axis_dims(bottom, axis, fn);
    if (top_k < 1) throw std::invalid_argument(std::string(fn) + ": top_k must be at least 1");
    expect_count(accuracy, 1, fn, "accuracy");
    expect_count(label, static_cast<int64_t>(d.outer) * d.inner, fn, "label");
    if (per_class) expect_count(*per_class, d.channels, fn, "per_class");
    const bool gpu = per_class ? same_device(fn, {&accuracy, &*per_class, &bottom, &label})
                               : same_device(fn, {&accuracy, &bottom, &label});
    const float *b = CF(bottom, fn, "bottom"), *l = CF(label, fn, "label");
    float* acc = F(accuracy, fn, "accuracy");
    float* pc = per_class ? F(*per_class, fn, "per_class") : nullptr;
    const bool has_ignore = ignore_label.has_value();
    const int ignore = ignore_label.value_or(0);
    LabelStats stats;
    {
      py::gil_scoped_release nogil;
      if (gpu) LRCN_GPU(stats = accuracy_forward_gpu(acc, pc, b, l, d.outer, d.channels, d.inner, top_k, has_ignore,
                                                     ignore, g_stream));
      else stats = accuracy_forward_cpu(acc, pc, b, l, d.outer, d.channels, d.inner, top_k, has_ignore, ignore);
    }
    check_labels(stats, d.channels, ignore_label, fn);
  }, py::arg("accuracy"), py::arg("per_class"), py::arg("bottom"), py::arg("label"), py::arg("axis"),
        py::arg("top_k"), py::arg("ignore_label"));
}

}  // namespace lrcn::bind
