// Bindings of LSTM and LSTMUnit.
#include "bind/common.h"
#include "bind/recurrent.h"
#include "layers/lstm.h"

namespace lrcn::bind {

void bind_lstm(py::module_& m) {
  m.def("lstm_forward", [](Arr h, Arr gates, Arr c, Arr hc, Arr h_T, Arr c_T, OptArr static_gates, Arr x, Arr cont,
                           OptArr x_static, Arr h_0, Arr c_0, Arr W_xc, Arr b_c, OptArr W_static, Arr W_hc) {
    const char* fn = "lstm_forward";
    const RecurDims d(fn, cont, W_xc, W_static, W_hc, 4);
    const int64_t TN = (int64_t)d.T * d.N, NH = (int64_t)d.N * d.H;
    if (d.S > 0 && (!x_static || !static_gates))
      throw std::invalid_argument("lstm_forward: a static weight needs x_static and static_gates");
    if (x_static && !W_static) throw std::invalid_argument("lstm_forward: x_static without W_static");
    expect_count(x, TN * d.D, fn, "x");
    for (auto [a, name] : {std::pair{&h, "h"}, {&c, "c"}, {&hc, "hc"}}) expect_count(*a, TN * d.H, fn, name);
    expect_count(gates, TN * d.G, fn, "gates");
    for (auto [a, name] : {std::pair{&h_T, "h_T"}, {&c_T, "c_T"}, {&h_0, "h_0"}, {&c_0, "c_0"}})
      expect_count(*a, NH, fn, name);
    expect_count(b_c, d.G, fn, "b_c");
    Opt::count(x_static, (int64_t)d.N * d.S, fn, "x_static");
    Opt::count(static_gates, (int64_t)d.N * d.G, fn, "static_gates");
    const bool gpu = same_device(fn, {&h, &gates, &c, &hc, &h_T, &c_T, &x, &cont, &h_0, &c_0, &W_xc, &b_c, &W_hc,
                                      Opt::or_(static_gates, h), Opt::or_(x_static, h), Opt::or_(W_static, h)});
    LstmForward k;
    k.h = F(h, fn, "h"), k.gates = F(gates, fn, "gates"), k.c = F(c, fn, "c"), k.hc = F(hc, fn, "hc");
    k.h_T = F(h_T, fn, "h_T"), k.c_T = F(c_T, fn, "c_T"), k.static_gates = Opt::w(static_gates, fn, "static_gates");
    k.x = CF(x, fn, "x"), k.cont = CF(cont, fn, "cont"), k.x_static = Opt::r(x_static, fn, "x_static");
    k.h_0 = CF(h_0, fn, "h_0"), k.c_0 = CF(c_0, fn, "c_0"), k.W_xc = CF(W_xc, fn, "W_xc"), k.b_c = CF(b_c, fn, "b_c");
    k.W_static = Opt::r(W_static, fn, "W_static"), k.W_hc = CF(W_hc, fn, "W_hc");
    k.T = d.T, k.N = d.N, k.D = d.D, k.S = d.S, k.H = d.H;
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(lstm_forward_gpu(k, g_stream));
    else lstm_forward_cpu(k);
  }, py::arg("h"), py::arg("gates"), py::arg("c"), py::arg("hc"), py::arg("h_T"), py::arg("c_T"),
        py::arg("static_gates"), py::arg("x"), py::arg("cont"), py::arg("x_static"), py::arg("h_0"), py::arg("c_0"),
        py::arg("W_xc"), py::arg("b_c"), py::arg("W_static"), py::arg("W_hc"));
  m.def("lstm_backward", [](OptArr dx, OptArr dx_static, OptArr dh_0, OptArr dc_0, OptArr dW_xc, OptArr db_c,
                            OptArr dW_static, OptArr dW_hc, Arr dgates, OptArr dgates_sum, Arr dh_next, Arr dc_next,
                            Arr dh, OptArr dh_T, OptArr dc_T, Arr gates, Arr c, Arr hc, Arr c_0, Arr x, Arr cont,
                            OptArr x_static, Arr W_xc, OptArr W_static, Arr W_hc) {
    const char* fn = "lstm_backward";
    const RecurDims d(fn, cont, W_xc, W_static, W_hc, 4);
    const int64_t TN = (int64_t)d.T * d.N, NH = (int64_t)d.N * d.H;
    if ((dW_static || dx_static) && (d.S == 0 || !x_static || !dgates_sum))
      throw std::invalid_argument("lstm_backward: static gradients need W_static, x_static and dgates_sum");
    Opt::count(dx, TN * d.D, fn, "dx");
    Opt::count(dx_static, (int64_t)d.N * d.S, fn, "dx_static");
    for (auto [a, name] : {std::pair{&dh_0, "dh_0"}, {&dc_0, "dc_0"}, {&dh_T, "dh_T"}, {&dc_T, "dc_T"}})
      Opt::count(*a, NH, fn, name);
    Opt::count(dW_xc, (int64_t)d.G * d.D, fn, "dW_xc");
    Opt::count(db_c, d.G, fn, "db_c");
    Opt::count(dW_static, (int64_t)d.G * d.S, fn, "dW_static");
    Opt::count(dW_hc, (int64_t)d.G * d.H, fn, "dW_hc");
    expect_count(dgates, TN * d.G, fn, "dgates");
    Opt::count(dgates_sum, (int64_t)d.N * d.G, fn, "dgates_sum");
    expect_count(dh_next, NH, fn, "dh_next");
    expect_count(dc_next, NH, fn, "dc_next");
    for (auto [a, name] : {std::pair{&dh, "dh"}, {&c, "c"}, {&hc, "hc"}}) expect_count(*a, TN * d.H, fn, name);
    expect_count(gates, TN * d.G, fn, "gates");
    expect_count(c_0, NH, fn, "c_0");
    expect_count(x, TN * d.D, fn, "x");
    Opt::count(x_static, (int64_t)d.N * d.S, fn, "x_static");
    const bool gpu = same_device(
        fn, {&dgates, &dh_next, &dc_next, &dh, &gates, &c, &hc, &c_0, &x, &cont, &W_xc, &W_hc, Opt::or_(dx, x),
             Opt::or_(dx_static, x), Opt::or_(dh_0, x), Opt::or_(dc_0, x), Opt::or_(dW_xc, x), Opt::or_(db_c, x),
             Opt::or_(dW_static, x), Opt::or_(dW_hc, x), Opt::or_(dgates_sum, x), Opt::or_(dh_T, x),
             Opt::or_(dc_T, x), Opt::or_(x_static, x), Opt::or_(W_static, x)});
    LstmBackward k;
    k.dx = Opt::w(dx, fn, "dx"), k.dx_static = Opt::w(dx_static, fn, "dx_static"), k.dh_0 = Opt::w(dh_0, fn, "dh_0");
    k.dc_0 = Opt::w(dc_0, fn, "dc_0"), k.dW_xc = Opt::w(dW_xc, fn, "dW_xc"), k.db_c = Opt::w(db_c, fn, "db_c");
    k.dW_static = Opt::w(dW_static, fn, "dW_static"), k.dW_hc = Opt::w(dW_hc, fn, "dW_hc");
    k.dgates = F(dgates, fn, "dgates"), k.dgates_sum = Opt::w(dgates_sum, fn, "dgates_sum");
    k.dh_next = F(dh_next, fn, "dh_next"), k.dc_next = F(dc_next, fn, "dc_next"), k.dh = CF(dh, fn, "dh");
    k.dh_T = Opt::r(dh_T, fn, "dh_T"), k.dc_T = Opt::r(dc_T, fn, "dc_T"), k.gates = CF(gates, fn, "gates");
    k.c = CF(c, fn, "c"), k.hc = CF(hc, fn, "hc"), k.c_0 = CF(c_0, fn, "c_0"), k.x = CF(x, fn, "x");
    k.cont = CF(cont, fn, "cont"), k.x_static = Opt::r(x_static, fn, "x_static"), k.W_xc = CF(W_xc, fn, "W_xc");
    k.W_static = Opt::r(W_static, fn, "W_static"), k.W_hc = CF(W_hc, fn, "W_hc");
    k.T = d.T, k.N = d.N, k.D = d.D, k.S = d.S, k.H = d.H;
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(lstm_backward_gpu(k, g_stream));
    else lstm_backward_cpu(k);
  }, py::arg("dx"), py::arg("dx_static"), py::arg("dh_0"), py::arg("dc_0"), py::arg("dW_xc"), py::arg("db_c"),
        py::arg("dW_static"), py::arg("dW_hc"), py::arg("dgates"), py::arg("dgates_sum"), py::arg("dh_next"),
        py::arg("dc_next"), py::arg("dh"), py::arg("dh_T"), py::arg("dc_T"), py::arg("gates"), py::arg("c"),
        py::arg("hc"), py::arg("c_0"), py::arg("x"), py::arg("cont"), py::arg("x_static"), py::arg("W_xc"),
        py::arg("W_static"), py::arg("W_hc"));
  // LSTMUnit: c_prev (N × H), x (N × 4H), cont (N) → c, h (N × H).
  m.def("lstm_unit_forward", [](Arr c, Arr h, Arr c_prev, Arr x, Arr cont) {
    const char* fn = "lstm_unit_forward";
    const int N = to_int(cont.count, fn), H = N ? to_int(c_prev.count / N, fn) : 0;
    expect_count(c_prev, (int64_t)N * H, fn, "c_prev");
    for (auto [a, name] : {std::pair{&c, "c"}, {&h, "h"}}) expect_count(*a, (int64_t)N * H, fn, name);
    expect_count(x, 4 * (int64_t)N * H, fn, "x");
    const bool gpu = same_device(fn, {&c, &h, &c_prev, &x, &cont});
    float *cp = F(c, fn, "c"), *hp = F(h, fn, "h");
    const float *cpp = CF(c_prev, fn, "c_prev"), *xp = CF(x, fn, "x"), *contp = CF(cont, fn, "cont");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(lstm_unit_forward_gpu(cp, hp, cpp, xp, contp, N, H, g_stream));
    else lstm_unit_forward_cpu(cp, hp, cpp, xp, contp, N, H);
  }, py::arg("c"), py::arg("h"), py::arg("c_prev"), py::arg("x"), py::arg("cont"));
  m.def("lstm_unit_backward", [](OptArr dc_prev, OptArr dx, Arr dc, Arr dh, Arr c_prev, Arr x, Arr c, Arr cont) {
    const char* fn = "lstm_unit_backward";
    const int N = to_int(cont.count, fn), H = N ? to_int(c_prev.count / N, fn) : 0;
    const int64_t NH = (int64_t)N * H;
    for (auto [a, name] : {std::pair{&dc, "dc"}, {&dh, "dh"}, {&c_prev, "c_prev"}, {&c, "c"}})
      expect_count(*a, NH, fn, name);
    expect_count(x, 4 * NH, fn, "x");
    Opt::count(dc_prev, NH, fn, "dc_prev");
    Opt::count(dx, 4 * NH, fn, "dx");
    const bool gpu = same_device(fn, {&dc, &dh, &c_prev, &x, &c, &cont, Opt::or_(dc_prev, x), Opt::or_(dx, x)});
    float *dcp = Opt::w(dc_prev, fn, "dc_prev"), *dxp = Opt::w(dx, fn, "dx");
    const float *dcc = CF(dc, fn, "dc"), *dhp = CF(dh, fn, "dh"), *cpp = CF(c_prev, fn, "c_prev");
    const float *xp = CF(x, fn, "x"), *cp = CF(c, fn, "c"), *contp = CF(cont, fn, "cont");
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(lstm_unit_backward_gpu(dcp, dxp, dcc, dhp, cpp, xp, cp, contp, N, H, g_stream));
    else lstm_unit_backward_cpu(dcp, dxp, dcc, dhp, cpp, xp, cp, contp, N, H);
  }, py::arg("dc_prev"), py::arg("dx"), py::arg("dc"), py::arg("dh"), py::arg("c_prev"), py::arg("x"), py::arg("c"),
        py::arg("cont"));
}

}  // namespace lrcn::bind
