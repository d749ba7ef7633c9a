// Bindings of SigmoidCrossEntropyLoss's elementwise kernels; ignore_label None means no ignored targets.
#include "bind/common.h"
#include "layers/sigmoid_cross_entropy.h"

namespace lrcn::bind {

void bind_sigmoid_cross_entropy(py::module_& m) {
  m.def("sigmoid_cross_entropy_forward", [](Arr loss_terms, Arr valid, Arr x, Arr target,
                                            std::optional<int> ignore_label) {
    const char* fn = "sigmoid_cross_entropy_forward";
    for (const Arr* a : {&loss_terms, &valid, &target}) expect_count(*a, x.count, fn, "loss_terms/valid/target");
    const bool gpu = same_device(fn, {&loss_terms, &valid, &x, &target});
    float *l = F(loss_terms, fn, "loss_terms"), *v = F(valid, fn, "valid");
    const float *xp = CF(x, fn, "x"), *t = CF(target, fn, "target");
    const bool has = ignore_label.has_value();
    const int ig = ignore_label.value_or(0);
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(sigmoid_cross_entropy_forward_gpu(l, v, xp, t, x.count, has, ig, g_stream));
    else sigmoid_cross_entropy_forward_cpu(l, v, xp, t, x.count, has, ig);
  }, py::arg("loss_terms"), py::arg("valid"), py::arg("x"), py::arg("target"), py::arg("ignore_label"));
  m.def("sigmoid_cross_entropy_backward", [](Arr bottom_diff, Arr x, Arr target, float scale,
                                             std::optional<int> ignore_label) {
    const char* fn = "sigmoid_cross_entropy_backward";
    expect_count(bottom_diff, x.count, fn, "bottom_diff");
    expect_count(target, x.count, fn, "target");
    const bool gpu = same_device(fn, {&bottom_diff, &x, &target});
    float* dx = F(bottom_diff, fn, "bottom_diff");
    const float *xp = CF(x, fn, "x"), *t = CF(target, fn, "target");
    const bool has = ignore_label.has_value();
    const int ig = ignore_label.value_or(0);
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(sigmoid_cross_entropy_backward_gpu(dx, xp, t, x.count, scale, has, ig, g_stream));
    else sigmoid_cross_entropy_backward_cpu(dx, xp, t, x.count, scale, has, ig);
  }, py::arg("bottom_diff"), py::arg("x"), py::arg("target"), py::arg("scale"), py::arg("ignore_label"));
}

}  // namespace lrcn::bind
