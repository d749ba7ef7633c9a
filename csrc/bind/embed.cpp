// Bindings of Embed.
#include "bind/common.h"
#include "layers/embed.h"

namespace lrcn::bind {

void bind_embed(py::module_& m) {
  // top (M × N, M = bottom's count) = weight (K × N) rows picked by bottom (+ bias). On the host, returns the
  // first position whose index is not an integer in [−1, K), or −1, and the layer raises the error; on the
  // device, returns −1 and records such a position for the next K.fault() (no synchronisation).
  m.def("embed_forward", [](Arr top, Arr bottom, Arr weight, OptArr bias) {
    const char* fn = "embed_forward";
    if (weight.shape.size() != 2)
      throw std::invalid_argument("embed_forward: weight must be 2-D (input_dim × num_output), got " +
                                  describe(weight));
    const int64_t M = bottom.count;
    const int K = to_int(weight.shape[0], fn), N = to_int(weight.shape[1], fn);
    expect_count(top, M * N, fn, "top");
    Opt::count(bias, N, fn, "bias");
    const bool gpu = same_device(fn, {&top, &bottom, &weight, Opt::or_(bias, top)});
    float* t = F(top, fn, "top");
    const float *b = CF(bottom, fn, "bottom"), *w = CF(weight, fn, "weight"), *bb = Opt::r(bias, fn, "bias");
    py::gil_scoped_release nogil;
    int64_t bad = -1;
    if (gpu) LRCN_GPU(embed_forward_gpu(t, b, w, bb, M, K, N, g_fault_tag, g_stream));
    else bad = embed_forward_cpu(t, b, w, bb, M, K, N);
    return bad;
  }, py::arg("top"), py::arg("bottom"), py::arg("weight"), py::arg("bias"));
  // weight_diff (K × N) += top_diff rows scattered by index; bias_diff (N) += Σ rows (either may be None).
  m.def("embed_backward", [](OptArr weight_diff, OptArr bias_diff, Arr top_diff, Arr bottom, int K) {
    const char* fn = "embed_backward";
    const int64_t M = bottom.count;
    if (M == 0 || top_diff.count % M != 0) throw std::invalid_argument("embed_backward: top_diff is not M × N");
    const int N = to_int(top_diff.count / M, fn);
    Opt::count(weight_diff, (int64_t)K * N, fn, "weight_diff");
    Opt::count(bias_diff, N, fn, "bias_diff");
    const bool gpu = same_device(fn, {&top_diff, &bottom, Opt::or_(weight_diff, bottom), Opt::or_(bias_diff, bottom)});
    float *wd = Opt::w(weight_diff, fn, "weight_diff"), *bd = Opt::w(bias_diff, fn, "bias_diff");
    const float *td = CF(top_diff, fn, "top_diff"), *b = CF(bottom, fn, "bottom");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(embed_backward_gpu(wd, bd, td, b, M, K, N, g_stream));
    else embed_backward_cpu(wd, bd, td, b, M, K, N);
  }, py::arg("weight_diff"), py::arg("bias_diff"), py::arg("top_diff"), py::arg("bottom"), py::arg("K"));
}

}  // namespace lrcn::bind
