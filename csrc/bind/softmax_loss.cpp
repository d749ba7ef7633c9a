// Bindings of SoftmaxWithLoss.
#include "bind/common.h"
#include "bind/softmax_loss.h"

namespace lrcn::bind {

void bind_softmax_loss(py::module_& m) {
  // Writes the normalised loss into loss (1 element) and the normaliser the backward divides by into
  // normalizer (1 element, where loss is). normalization: "FULL", "VALID", "BATCH_SIZE" or "NONE". Bad labels:
  // ValueError on the host; on the device, recorded for the next K.fault() (no synchronisation here).
  m.def("softmax_loss_forward", [](Arr loss, Arr normalizer, Arr prob, Arr label, int axis,
                                   std::optional<int> ignore_label, std::string normalization) {
    const char* fn = "softmax_loss_forward";
    const char* names[] = {"FULL", "VALID", "BATCH_SIZE", "NONE"};
    int mode_index = 0;
    while (mode_index < 4 && normalization != names[mode_index]) ++mode_index;
    if (mode_index == 4) throw std::invalid_argument(std::string(fn) + ": unknown normalization '" + normalization + "'");
    const auto mode = static_cast<LossNormalization>(mode_index);
    const AxisDims d = axis_dims(prob, axis, fn);
    expect_count(loss, 1, fn, "loss");
    expect_count(normalizer, 1, fn, "normalizer");
    expect_count(label, static_cast<int64_t>(d.outer) * d.inner, fn, "label");
    const bool gpu = same_device(fn, {&loss, &normalizer, &prob, &label});
    const float *p = CF(prob, fn, "prob"), *l = CF(label, fn, "label");
    float *out = F(loss, fn, "loss"), *norm = F(normalizer, fn, "normalizer");
    const bool has_ignore = ignore_label.has_value();
    const int ignore = ignore_label.value_or(0);
    if (gpu) {
      py::gil_scoped_release nogil;
      LRCN_GPU(softmax_loss_forward_gpu(out, norm, p, l, d.outer, d.channels, d.inner, has_ignore, ignore, mode,
                                        g_fault_tag, g_stream));
      return;
    }
    LabelStats stats;
    {
      py::gil_scoped_release nogil;
      stats = softmax_loss_forward_cpu(out, p, l, d.outer, d.channels, d.inner, has_ignore, ignore, mode);
      norm[0] = loss_normalizer(mode, d.outer, d.inner, stats.valid);
    }
    check_labels(stats, d.channels, ignore_label, fn);
  }, py::arg("loss"), py::arg("normalizer"), py::arg("prob"), py::arg("label"), py::arg("axis"),
        py::arg("ignore_label"), py::arg("normalization"));
  // bottom_diff = (prob − onehot(label)) · loss_diff[0] / normalizer[0]; 0 at ignored positions.
  m.def("softmax_loss_backward", [](Arr bottom_diff, Arr prob, Arr label, Arr loss_diff, Arr normalizer, int axis,
                                    std::optional<int> ignore_label) {
    const char* fn = "softmax_loss_backward";
    const AxisDims d = axis_dims(prob, axis, fn);
    expect_count(bottom_diff, prob.count, fn, "bottom_diff");
    expect_count(label, static_cast<int64_t>(d.outer) * d.inner, fn, "label");
    expect_count(loss_diff, 1, fn, "loss_diff");
    expect_count(normalizer, 1, fn, "normalizer");
    const bool gpu = same_device(fn, {&bottom_diff, &prob, &label, &loss_diff, &normalizer});
    const float *p = CF(prob, fn, "prob"), *l = CF(label, fn, "label"), *ld = CF(loss_diff, fn, "loss_diff");
    const float* norm = CF(normalizer, fn, "normalizer");
    float* bd = F(bottom_diff, fn, "bottom_diff");
    const bool has_ignore = ignore_label.has_value();
    const int ignore = ignore_label.value_or(0);
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(softmax_loss_backward_gpu(bd, p, l, ld, d.outer, d.channels, d.inner, has_ignore, ignore,
                                                norm, g_stream));
    else softmax_loss_backward_cpu(bd, p, l, ld, d.outer, d.channels, d.inner, has_ignore, ignore, norm[0]);
  }, py::arg("bottom_diff"), py::arg("prob"), py::arg("label"), py::arg("loss_diff"), py::arg("normalizer"),
        py::arg("axis"), py::arg("ignore_label"));
}

}  // namespace lrcn::bind
