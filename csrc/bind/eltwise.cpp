// Bindings of Eltwise.
#include "bind/common.h"
#include "layers/eltwise.h"

namespace lrcn::bind {

void bind_eltwise(py::module_& m) {
  // Eltwise over k ≥ 2 bottoms of equal size; op as caffe.proto (0 PROD, 1 SUM, 2 MAX), one coeff per
  // bottom, mask (top-sized) only for MAX (layers/eltwise.h).
  auto eltwise_args = [](const char* fn, const Arr& top, const std::vector<Arr>& bottoms, int op,
                         const std::vector<float>& coeff, const std::optional<Arr>& mask) {
    if (op < kEltwiseProd || op > kEltwiseMax) throw std::invalid_argument(std::string(fn) + ": op must be 0, 1 or 2");
    if (bottoms.size() < 2 || coeff.size() != bottoms.size())
      throw std::invalid_argument(std::string(fn) + ": needs at least 2 bottoms and one coeff per bottom, got " +
                                  std::to_string(bottoms.size()) + " and " + std::to_string(coeff.size()));
    std::vector<const float*> ptrs;
    for (const Arr& b : bottoms) {
      expect_count(b, top.count, fn, "bottom");
      same_device(fn, {&top, &b});
      ptrs.push_back(CF(b, fn, "bottom"));
    }
    if (op == kEltwiseMax) {
      if (!mask) throw std::invalid_argument(std::string(fn) + ": MAX needs a mask");
      expect_count(*mask, top.count, fn, "mask");
      same_device(fn, {&top, &*mask});
    }
    return ptrs;
  };
  m.def("eltwise_forward", [eltwise_args](Arr top, std::optional<Arr> mask, std::vector<Arr> bottoms, int op,
                                          std::vector<float> coeff) {
    const char* fn = "eltwise_forward";
    const std::vector<const float*> b = eltwise_args(fn, top, bottoms, op, coeff, mask);
    float* t = F(top, fn, "top");
    float* mk = op == kEltwiseMax ? F(*mask, fn, "mask") : nullptr;
    const int k = static_cast<int>(b.size());
    py::gil_scoped_release nogil;
    if (top.gpu) LRCN_GPU(eltwise_forward_gpu(t, mk, b.data(), coeff.data(), k, top.count, op, g_stream));
    else eltwise_forward_cpu(t, mk, b.data(), coeff.data(), k, top.count, op);
  }, py::arg("top"), py::arg("mask"), py::arg("bottoms"), py::arg("op"), py::arg("coeff"));
  m.def("eltwise_backward", [eltwise_args](Arr bottom_diff, Arr top_diff, Arr top, std::vector<Arr> bottoms,
                                           std::optional<Arr> mask, int i, int op, std::vector<float> coeff,
                                           bool stable_prod_grad) {
    const char* fn = "eltwise_backward";
    const std::vector<const float*> b = eltwise_args(fn, top, bottoms, op, coeff, mask);
    expect_count(bottom_diff, top.count, fn, "bottom_diff");
    expect_count(top_diff, top.count, fn, "top_diff");
    same_device(fn, {&top, &bottom_diff, &top_diff});
    if (i < 0 || i >= static_cast<int>(b.size()))
      throw std::invalid_argument(std::string(fn) + ": bottom index " + std::to_string(i) + " out of range");
    float* bd = F(bottom_diff, fn, "bottom_diff");
    const float *td = CF(top_diff, fn, "top_diff"), *t = CF(top, fn, "top");
    const float* mk = op == kEltwiseMax ? CF(*mask, fn, "mask") : nullptr;
    const int k = static_cast<int>(b.size());
    py::gil_scoped_release nogil;
    if (top.gpu)
      LRCN_GPU(eltwise_backward_gpu(bd, td, t, b.data(), mk, coeff.data(), k, i, top.count, op, stable_prod_grad,
                                    g_stream));
    else eltwise_backward_cpu(bd, td, t, b.data(), mk, coeff.data(), k, i, top.count, op, stable_prod_grad);
  }, py::arg("bottom_diff"), py::arg("top_diff"), py::arg("top"), py::arg("bottoms"), py::arg("mask"), py::arg("i"),
        py::arg("op"), py::arg("coeff"), py::arg("stable_prod_grad"));
  // SUM scaled by a coefficient blob of k·num values, k = len(coeff) bottoms of num·dim (layers/eltwise.h).
  auto coeff_blob_rows = [](const char* fn, const Arr& top, const Arr& coeff_blob, size_t k) {
    if (k == 0 || coeff_blob.count % static_cast<int64_t>(k) != 0)
      throw std::invalid_argument(std::string(fn) + ": coeff_blob " + describe(coeff_blob) + " is not " +
                                  std::to_string(k) + " rows");
    const int64_t num = coeff_blob.count / static_cast<int64_t>(k);
    if (num == 0 || top.count % num != 0)
      throw std::invalid_argument(std::string(fn) + ": " + describe(top) + " does not split into " +
                                  std::to_string(num) + " coefficient rows");
    same_device(fn, {&top, &coeff_blob});
    return num;
  };
  m.def("eltwise_coeff_blob_forward", [coeff_blob_rows](Arr top, std::vector<Arr> bottoms, std::vector<float> coeff,
                                                        Arr coeff_blob) {
    const char* fn = "eltwise_coeff_blob_forward";
    if (bottoms.empty() || coeff.size() != bottoms.size())
      throw std::invalid_argument(std::string(fn) + ": needs one coeff per bottom");
    const int64_t num = coeff_blob_rows(fn, top, coeff_blob, bottoms.size());
    std::vector<const float*> b;
    for (const Arr& x : bottoms) {
      expect_count(x, top.count, fn, "bottom");
      same_device(fn, {&top, &x});
      b.push_back(CF(x, fn, "bottom"));
    }
    float* t = F(top, fn, "top");
    const float* cb = CF(coeff_blob, fn, "coeff_blob");
    const int k = static_cast<int>(b.size());
    py::gil_scoped_release nogil;
    if (top.gpu) LRCN_GPU(eltwise_coeff_blob_forward_gpu(t, b.data(), coeff.data(), cb, k, num, top.count / num, g_stream));
    else eltwise_coeff_blob_forward_cpu(t, b.data(), coeff.data(), cb, k, num, top.count / num);
  }, py::arg("top"), py::arg("bottoms"), py::arg("coeff"), py::arg("coeff_blob"));
  m.def("eltwise_coeff_blob_backward", [coeff_blob_rows](Arr bottom_diff, Arr top_diff, std::vector<float> coeff,
                                                         Arr coeff_blob, int i) {
    const char* fn = "eltwise_coeff_blob_backward";
    const int64_t num = coeff_blob_rows(fn, top_diff, coeff_blob, coeff.size());
    expect_count(bottom_diff, top_diff.count, fn, "bottom_diff");
    same_device(fn, {&top_diff, &bottom_diff});
    if (i < 0 || i >= static_cast<int>(coeff.size()))
      throw std::invalid_argument(std::string(fn) + ": bottom index " + std::to_string(i) + " out of range");
    float* bd = F(bottom_diff, fn, "bottom_diff");
    const float *td = CF(top_diff, fn, "top_diff"), *cb = CF(coeff_blob, fn, "coeff_blob");
    py::gil_scoped_release nogil;
    if (top_diff.gpu)
      LRCN_GPU(eltwise_coeff_blob_backward_gpu(bd, td, coeff.data(), cb, i, num, top_diff.count / num, g_stream));
    else eltwise_coeff_blob_backward_cpu(bd, td, coeff.data(), cb, i, num, top_diff.count / num);
  }, py::arg("bottom_diff"), py::arg("top_diff"), py::arg("coeff"), py::arg("coeff_blob"), py::arg("i"));
}

}  // namespace lrcn::bind
