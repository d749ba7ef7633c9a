// Bindings of the solvers' fused updates.
#include "bind/common.h"
#include "sgd.h"

namespace lrcn::bind {

void bind_sgd(py::module_& m) {
  // One fused solver update of one parameter blob (csrc/sgd.h), in place on data, diff and the history
  // arrays. clip, norm, decay and l1 form the gradient as Caffe's ApplyUpdate does; rate is lr · lr_mult.
  auto sgd_check = [](const char* fn, std::initializer_list<std::pair<Arr*, const char*>> arrays) {
    const Arr& first = *arrays.begin()->first;
    for (const auto& [a, name] : arrays) {
      F(*a, fn, name);
      expect_count(*a, first.count, fn, name);
      if (a->gpu != first.gpu) throw std::invalid_argument(std::string(fn) + ": host and device arrays mixed");
    }
    return first.gpu;
  };
  auto fp = [](const Arr& a) { return static_cast<float*>(a.ptr); };
  m.def("sgd_update", [=](Arr data, Arr diff, Arr history, float clip, float norm, float decay, bool l1, float rate,
                          float momentum) {
    const bool gpu = sgd_check("sgd_update", {{&data, "data"}, {&diff, "diff"}, {&history, "history"}});
    const SgdGrad g{clip, norm, decay, l1};
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(sgd_update_gpu(fp(data), fp(diff), fp(history), data.count, g, rate, momentum, g_stream));
    else sgd_update_cpu(fp(data), fp(diff), fp(history), data.count, g, rate, momentum);
  }, py::arg("data"), py::arg("diff"), py::arg("history"), py::arg("clip"), py::arg("norm"), py::arg("decay"),
        py::arg("l1"), py::arg("rate"), py::arg("momentum"));
  m.def("nesterov_update", [=](Arr data, Arr diff, Arr history, float clip, float norm, float decay, bool l1,
                               float rate, float momentum) {
    const bool gpu = sgd_check("nesterov_update", {{&data, "data"}, {&diff, "diff"}, {&history, "history"}});
    const SgdGrad g{clip, norm, decay, l1};
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(nesterov_update_gpu(fp(data), fp(diff), fp(history), data.count, g, rate, momentum, g_stream));
    else nesterov_update_cpu(fp(data), fp(diff), fp(history), data.count, g, rate, momentum);
  }, py::arg("data"), py::arg("diff"), py::arg("history"), py::arg("clip"), py::arg("norm"), py::arg("decay"),
        py::arg("l1"), py::arg("rate"), py::arg("momentum"));
  m.def("adagrad_update", [=](Arr data, Arr diff, Arr history, float clip, float norm, float decay, bool l1,
                              float rate, float delta) {
    const bool gpu = sgd_check("adagrad_update", {{&data, "data"}, {&diff, "diff"}, {&history, "history"}});
    const SgdGrad g{clip, norm, decay, l1};
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(adagrad_update_gpu(fp(data), fp(diff), fp(history), data.count, g, rate, delta, g_stream));
    else adagrad_update_cpu(fp(data), fp(diff), fp(history), data.count, g, rate, delta);
  }, py::arg("data"), py::arg("diff"), py::arg("history"), py::arg("clip"), py::arg("norm"), py::arg("decay"),
        py::arg("l1"), py::arg("rate"), py::arg("delta"));
  m.def("rmsprop_update", [=](Arr data, Arr diff, Arr history, float clip, float norm, float decay, bool l1,
                              float rate, float rms_decay, float delta) {
    const bool gpu = sgd_check("rmsprop_update", {{&data, "data"}, {&diff, "diff"}, {&history, "history"}});
    const SgdGrad g{clip, norm, decay, l1};
    py::gil_scoped_release nogil;
    if (gpu)
      LRCN_GPU(rmsprop_update_gpu(fp(data), fp(diff), fp(history), data.count, g, rate, rms_decay, delta, g_stream));
    else rmsprop_update_cpu(fp(data), fp(diff), fp(history), data.count, g, rate, rms_decay, delta);
  }, py::arg("data"), py::arg("diff"), py::arg("history"), py::arg("clip"), py::arg("norm"), py::arg("decay"),
        py::arg("l1"), py::arg("rate"), py::arg("rms_decay"), py::arg("delta"));
  m.def("adadelta_update", [=](Arr data, Arr diff, Arr history, Arr update_history, float clip, float norm,
                               float decay, bool l1, float rate, float momentum, float delta) {
    const bool gpu = sgd_check("adadelta_update", {{&data, "data"}, {&diff, "diff"}, {&history, "history"},
                                                   {&update_history, "update_history"}});
    const SgdGrad g{clip, norm, decay, l1};
    py::gil_scoped_release nogil;
    if (gpu)
      LRCN_GPU(adadelta_update_gpu(fp(data), fp(diff), fp(history), fp(update_history), data.count, g, rate, momentum,
                                   delta, g_stream));
    else adadelta_update_cpu(fp(data), fp(diff), fp(history), fp(update_history), data.count, g, rate, momentum, delta);
  }, py::arg("data"), py::arg("diff"), py::arg("history"), py::arg("update_history"), py::arg("clip"),
        py::arg("norm"), py::arg("decay"), py::arg("l1"), py::arg("rate"), py::arg("momentum"), py::arg("delta"));
  m.def("adam_update", [=](Arr data, Arr diff, Arr m1, Arr m2, float clip, float norm, float decay, bool l1,
                           float rate, float beta1, float beta2, float eps) {
    const bool gpu = sgd_check("adam_update", {{&data, "data"}, {&diff, "diff"}, {&m1, "m"}, {&m2, "v"}});
    const SgdGrad g{clip, norm, decay, l1};
    py::gil_scoped_release nogil;
    if (gpu)
      LRCN_GPU(adam_update_gpu(fp(data), fp(diff), fp(m1), fp(m2), data.count, g, rate, beta1, beta2, eps, g_stream));
    else adam_update_cpu(fp(data), fp(diff), fp(m1), fp(m2), data.count, g, rate, beta1, beta2, eps);
  }, py::arg("data"), py::arg("diff"), py::arg("m1"), py::arg("m2"), py::arg("clip"), py::arg("norm"),
        py::arg("decay"), py::arg("l1"), py::arg("rate"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"));
}

}  // namespace lrcn::bind
