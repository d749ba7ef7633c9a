// Bindings of Accuracy.
#include "bind/common.h"
#include "layers/accuracy.h"
#include "bind/softmax_loss.h"

namespace lrcn::bind {

void bind_accuracy(py::module_& m) {
  // accuracy: 1 element; per_class: None or `channels` elements; scratch: None on the host, outer·inner
  // floats on the device. Bad labels: ValueError on the host; on the device, recorded for the next K.fault().
  m.def("accuracy_forward", [](Arr accuracy, std::optional<Arr> per_class, Arr bottom, Arr label, int axis,
                               int top_k, std::optional<int> ignore_label, std::optional<Arr> scratch) {
    const char* fn = "accuracy_forward";
    const AxisDims d = axis_dims(bottom, axis, fn);
    if (top_k < 1) throw std::invalid_argument(std::string(fn) + ": top_k must be at least 1");
    const int64_t positions = static_cast<int64_t>(d.outer) * d.inner;
    expect_count(accuracy, 1, fn, "accuracy");
    expect_count(label, positions, fn, "label");
    if (per_class) expect_count(*per_class, d.channels, fn, "per_class");
    const bool gpu = same_device(fn, {&accuracy, Opt::or_(per_class, accuracy), &bottom, &label,
                                      Opt::or_(scratch, accuracy)});
    if (gpu != scratch.has_value())
      throw std::invalid_argument(std::string(fn) + ": scratch is needed on the device and only there");
    Opt::count(scratch, positions, fn, "scratch");
    const float *b = CF(bottom, fn, "bottom"), *l = CF(label, fn, "label");
    float *acc = F(accuracy, fn, "accuracy"), *pc = Opt::w(per_class, fn, "per_class");
    float* flag = Opt::w(scratch, fn, "scratch");
    const bool has_ignore = ignore_label.has_value();
    const int ignore = ignore_label.value_or(0);
    if (gpu) {
      py::gil_scoped_release nogil;
      LRCN_GPU(accuracy_forward_gpu(acc, pc, flag, b, l, d.outer, d.channels, d.inner, top_k, has_ignore, ignore,
                                    g_fault_tag, g_stream));
      return;
    }
    LabelStats stats;
    {
      py::gil_scoped_release nogil;
      stats = accuracy_forward_cpu(acc, pc, b, l, d.outer, d.channels, d.inner, top_k, has_ignore, ignore);
    }
    check_labels(stats, d.channels, ignore_label, fn);
  }, py::arg("accuracy"), py::arg("per_class"), py::arg("bottom"), py::arg("label"), py::arg("axis"),
        py::arg("top_k"), py::arg("ignore_label"), py::arg("scratch") = py::none());
}

}  // namespace lrcn::bind
