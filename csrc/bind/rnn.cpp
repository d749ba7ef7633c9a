// Bindings of RNN.
#include "bind/common.h"
#include "bind/recurrent.h"
#include "layers/rnn.h"

namespace lrcn::bind {

void bind_rnn(py::module_& m) {
  m.def("rnn_forward", [](Arr o, Arr hs, Arr hc, Arr h_T, OptArr static_z, Arr x, Arr cont, OptArr x_static, Arr h_0,
                          Arr W_xh, Arr b_h, OptArr W_static, Arr W_hh, Arr W_ho, Arr b_o) {
    const char* fn = "rnn_forward";
    const RecurDims d(fn, cont, W_xh, W_static, W_hh, 1);
    const int64_t TN = (int64_t)d.T * d.N, NH = (int64_t)d.N * d.H;
    if (d.S > 0 && (!x_static || !static_z))
      throw std::invalid_argument("rnn_forward: a static weight needs x_static and static_z");
    if (x_static && !W_static) throw std::invalid_argument("rnn_forward: x_static without W_static");
    expect_count(x, TN * d.D, fn, "x");
    for (auto [a, name] : {std::pair{&o, "o"}, {&hs, "hs"}, {&hc, "hc"}}) expect_count(*a, TN * d.H, fn, name);
    for (auto [a, name] : {std::pair{&h_T, "h_T"}, {&h_0, "h_0"}}) expect_count(*a, NH, fn, name);
    for (auto [a, name] : {std::pair{&b_h, "b_h"}, {&b_o, "b_o"}}) expect_count(*a, d.H, fn, name);
    expect_count(W_ho, (int64_t)d.H * d.H, fn, "W_ho");
    Opt::count(x_static, (int64_t)d.N * d.S, fn, "x_static");
    Opt::count(static_z, NH, fn, "static_z");
    const bool gpu = same_device(fn, {&o, &hs, &hc, &h_T, &x, &cont, &h_0, &W_xh, &b_h, &W_hh, &W_ho, &b_o,
                                      Opt::or_(static_z, o), Opt::or_(x_static, o), Opt::or_(W_static, o)});
    RnnForward k;
    k.o = F(o, fn, "o"), k.hs = F(hs, fn, "hs"), k.hc = F(hc, fn, "hc"), k.h_T = F(h_T, fn, "h_T");
    k.static_z = Opt::w(static_z, fn, "static_z"), k.x = CF(x, fn, "x"), k.cont = CF(cont, fn, "cont");
    k.x_static = Opt::r(x_static, fn, "x_static"), k.h_0 = CF(h_0, fn, "h_0"), k.W_xh = CF(W_xh, fn, "W_xh");
    k.b_h = CF(b_h, fn, "b_h"), k.W_static = Opt::r(W_static, fn, "W_static"), k.W_hh = CF(W_hh, fn, "W_hh");
    k.W_ho = CF(W_ho, fn, "W_ho"), k.b_o = CF(b_o, fn, "b_o"), k.T = d.T, k.N = d.N, k.D = d.D, k.S = d.S, k.H = d.H;
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(rnn_forward_gpu(k, g_stream));
    else rnn_forward_cpu(k);
  }, py::arg("o"), py::arg("hs"), py::arg("hc"), py::arg("h_T"), py::arg("static_z"), py::arg("x"), py::arg("cont"),
        py::arg("x_static"), py::arg("h_0"), py::arg("W_xh"), py::arg("b_h"), py::arg("W_static"), py::arg("W_hh"),
        py::arg("W_ho"), py::arg("b_o"));
  m.def("rnn_backward", [](OptArr dx, OptArr dx_static, OptArr dh_0, OptArr dW_xh, OptArr db_h, OptArr dW_static,
                           OptArr dW_hh, OptArr dW_ho, OptArr db_o, Arr dzo, Arr dz, OptArr dz_sum, Arr dh_next,
                           Arr do_, OptArr dh_T, Arr o, Arr hs, Arr hc, Arr x, Arr cont, OptArr x_static, Arr W_xh,
                           OptArr W_static, Arr W_hh, Arr W_ho) {
    const char* fn = "rnn_backward";
    const RecurDims d(fn, cont, W_xh, W_static, W_hh, 1);
    const int64_t TN = (int64_t)d.T * d.N, NH = (int64_t)d.N * d.H, HH = (int64_t)d.H * d.H;
    if ((dW_static || dx_static) && (d.S == 0 || !x_static || !dz_sum))
      throw std::invalid_argument("rnn_backward: static gradients need W_static, x_static and dz_sum");
    Opt::count(dx, TN * d.D, fn, "dx");
    Opt::count(dx_static, (int64_t)d.N * d.S, fn, "dx_static");
    for (auto [a, name] : {std::pair{&dh_0, "dh_0"}, {&dh_T, "dh_T"}, {&dz_sum, "dz_sum"}})
      Opt::count(*a, NH, fn, name);
    Opt::count(dW_xh, (int64_t)d.H * d.D, fn, "dW_xh");
    Opt::count(dW_static, (int64_t)d.H * d.S, fn, "dW_static");
    for (auto [a, name] : {std::pair{&dW_hh, "dW_hh"}, {&dW_ho, "dW_ho"}}) Opt::count(*a, HH, fn, name);
    for (auto [a, name] : {std::pair{&db_h, "db_h"}, {&db_o, "db_o"}}) Opt::count(*a, d.H, fn, name);
    for (auto [a, name] : {std::pair{&dzo, "dzo"}, {&dz, "dz"}, {&do_, "do"}, {&o, "o"}, {&hs, "hs"}, {&hc, "hc"}})
      expect_count(*a, TN * d.H, fn, name);
    expect_count(dh_next, NH, fn, "dh_next");
    expect_count(x, TN * d.D, fn, "x");
    expect_count(W_ho, HH, fn, "W_ho");
    Opt::count(x_static, (int64_t)d.N * d.S, fn, "x_static");
    const bool gpu = same_device(
        fn, {&dzo, &dz, &dh_next, &do_, &o, &hs, &hc, &x, &cont, &W_xh, &W_hh, &W_ho, Opt::or_(dx, x),
             Opt::or_(dx_static, x), Opt::or_(dh_0, x), Opt::or_(dW_xh, x), Opt::or_(db_h, x), Opt::or_(dW_static, x),
             Opt::or_(dW_hh, x), Opt::or_(dW_ho, x), Opt::or_(db_o, x), Opt::or_(dz_sum, x), Opt::or_(dh_T, x),
             Opt::or_(x_static, x), Opt::or_(W_static, x)});
    RnnBackward k;
    k.dx = Opt::w(dx, fn, "dx"), k.dx_static = Opt::w(dx_static, fn, "dx_static"), k.dh_0 = Opt::w(dh_0, fn, "dh_0");
    k.dW_xh = Opt::w(dW_xh, fn, "dW_xh"), k.db_h = Opt::w(db_h, fn, "db_h");
    k.dW_static = Opt::w(dW_static, fn, "dW_static"), k.dW_hh = Opt::w(dW_hh, fn, "dW_hh");
    k.dW_ho = Opt::w(dW_ho, fn, "dW_ho"), k.db_o = Opt::w(db_o, fn, "db_o"), k.dzo = F(dzo, fn, "dzo");
    k.dz = F(dz, fn, "dz"), k.dz_sum = Opt::w(dz_sum, fn, "dz_sum"), k.dh_next = F(dh_next, fn, "dh_next");
    k.do_ = CF(do_, fn, "do"), k.dh_T = Opt::r(dh_T, fn, "dh_T"), k.o = CF(o, fn, "o"), k.hs = CF(hs, fn, "hs");
    k.hc = CF(hc, fn, "hc"), k.x = CF(x, fn, "x"), k.cont = CF(cont, fn, "cont");
    k.x_static = Opt::r(x_static, fn, "x_static"), k.W_xh = CF(W_xh, fn, "W_xh");
    k.W_static = Opt::r(W_static, fn, "W_static"), k.W_hh = CF(W_hh, fn, "W_hh"), k.W_ho = CF(W_ho, fn, "W_ho");
    k.T = d.T, k.N = d.N, k.D = d.D, k.S = d.S, k.H = d.H;
    py::gil_scoped_release nogil;
    if (gpu) LRCN_GPU(rnn_backward_gpu(k, g_stream));
    else rnn_backward_cpu(k);
  }, py::arg("dx"), py::arg("dx_static"), py::arg("dh_0"), py::arg("dW_xh"), py::arg("db_h"), py::arg("dW_static"),
        py::arg("dW_hh"), py::arg("dW_ho"), py::arg("db_o"), py::arg("dzo"), py::arg("dz"), py::arg("dz_sum"),
        py::arg("dh_next"), py::arg("do_"), py::arg("dh_T"), py::arg("o"), py::arg("hs"), py::arg("hc"), py::arg("x"),
        py::arg("cont"), py::arg("x_static"), py::arg("W_xh"), py::arg("W_static"), py::arg("W_hh"), py::arg("W_ho"));
}

}  // namespace lrcn::bind
