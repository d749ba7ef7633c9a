// What the LSTM and RNN bindings share.
#pragma once
#include "bind/common.h"

namespace lrcn::bind {

// The recurrent layers' sizes, read from the arrays: T × N from cont, G × D from W_x, G × H from W_h
// (G = gates·H: 4H for the LSTM, H for the RNN), G × S from W_s (S = 0 without a static input).
struct RecurDims {
  int T, N, D, S, H, G;
  RecurDims(const char* fn, const Arr& cont, const Arr& W_x, const OptArr& W_s, const Arr& W_h, int gates) {
    auto fail = [&](const std::string& what) { throw std::invalid_argument(std::string(fn) + ": " + what); };
    if (cont.shape.size() != 2) fail("cont must be T × N, got " + describe(cont));
    if (W_h.shape.size() != 2 || W_h.shape[0] != gates * W_h.shape[1])
      fail("recurrent weight must be " + std::to_string(gates) + "H × H, got " + describe(W_h));
    if (W_x.shape.size() != 2 || W_x.shape[0] != W_h.shape[0])
      fail("input weight must be " + std::to_string(W_h.shape[0]) + " × D, got " + describe(W_x));
    if (W_s && (W_s->shape.size() != 2 || W_s->shape[0] != W_h.shape[0]))
      fail("static weight must be " + std::to_string(W_h.shape[0]) + " × S, got " + describe(*W_s));
    T = to_int(cont.shape[0], fn), N = to_int(cont.shape[1], fn), D = to_int(W_x.shape[1], fn);
    S = W_s ? to_int(W_s->shape[1], fn) : 0, H = to_int(W_h.shape[1], fn), G = to_int(W_h.shape[0], fn);
    if (T < 1) fail("needs at least one timestep");
  }
};

}  // namespace lrcn::bind
