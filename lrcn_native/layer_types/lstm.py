"""Caffe's LSTM (the whole sequence in one native call, csrc/layers/lstm.h; what it shares with the RNN is
in recurrent.py, with the semantics of the bottoms, the carried states and expose_hidden) and LSTMUnit."""
from ..backend import K
from ..layer import Layer, register
from .recurrent import Recurrent


@register
class LSTM(Recurrent):
    """Blobs in Caffe's order: W_xc (4H × D), b_c (4H), [W_xc_static (4H × S)], W_hc (4H × H); gates i, f, o, g."""
    type = "LSTM"
    states = ("h", "c")

    def make_params(self, weight_filler, bias_filler):
        G = 4 * self.H
        self.add_param((G, self.D), weight_filler)
        self.add_param((G,), bias_filler)
        if self.static:
            self.add_param((G, self.S), weight_filler)
        self.add_param((G, self.H), weight_filler)

    def reshape(self, bottom, top):
        super().reshape(bottom, top)
        T, N, H = self.T, self.N, self.H
        self.buffer("gates", T, N, 4 * H)    # activations i, f, o, g of every step
        self.buffer("c", T, N, H)            # cell states
        self.buffer("hc", T, N, H)           # cont_t·h_{t−1}, the recurrent GEMM's input
        self.buffer("static_gates", N, 4 * H)
        self.buffer("dgates", T, N, 4 * H)   # backward scratch (memory is only allocated when used)
        self.buffer("dgates_sum", N, 4 * H)
        self.buffer("dh_next", N, H)
        self.buffer("dc_next", N, H)

    def _weights(self):
        W = [b.rdata() for b in self.blobs]
        return W[0], W[1], (W[2] if self.static else None), W[-1]

    def forward(self, bottom, top):
        (h_0, c_0), (h_T, c_T) = self.states_io(bottom, top)
        W_xc, b_c, W_static, W_hc = self._weights()
        s = self.buffers
        K.lstm_forward(h=top[0].wdata(), gates=s["gates"].wdata(), c=s["c"].wdata(), hc=s["hc"].wdata(),
                       h_T=h_T, c_T=c_T, static_gates=s["static_gates"].wdata() if self.static else None,
                       x=bottom[0].rdata(), cont=bottom[1].rdata(),
                       x_static=bottom[2].rdata() if self.static else None, h_0=h_0, c_0=c_0,
                       W_xc=W_xc, b_c=b_c, W_static=W_static, W_hc=W_hc)

    def backward(self, top, propagate_down, bottom):
        self.check_backward(propagate_down)
        (dh_0, dc_0), (dh_T, dc_T) = self.exposed_diffs(bottom, top, propagate_down)
        W_xc, _, W_static, W_hc = self._weights()
        s = self.buffers
        last = len(self.blobs) - 1
        c_0 = bottom[3 + self.static].rdata() if self.expose else self.initial["c"].rdata()
        K.lstm_backward(dx=self.wanted(bottom, propagate_down, 0),
                        dx_static=self.wanted(bottom, propagate_down, 2) if self.static else None,
                        dh_0=dh_0, dc_0=dc_0, dW_xc=self.param_diff(0), db_c=self.param_diff(1),
                        dW_static=self.param_diff(2) if self.static else None, dW_hc=self.param_diff(last),
                        dgates=s["dgates"].wdata(), dgates_sum=s["dgates_sum"].wdata() if self.static else None,
                        dh_next=s["dh_next"].wdata(), dc_next=s["dc_next"].wdata(), dh=top[0].rdiff(),
                        dh_T=dh_T, dc_T=dc_T, gates=s["gates"].rdata(), c=s["c"].rdata(), hc=s["hc"].rdata(),
                        c_0=c_0, x=bottom[0].rdata(), cont=bottom[1].rdata(),
                        x_static=bottom[2].rdata() if self.static else None,
                        W_xc=W_xc, W_static=W_static, W_hc=W_hc)


@register
class LSTMUnit(Layer):
    """Caffe's LSTMUnit: one step. Bottoms c_prev (1 × N × H), x (1 × N × 4H, gate pre-activations i, f, o,
    g), cont (1 × N); tops c, h (1 × N × H). No parameters; no gradient to cont."""
    type = "LSTMUnit"
    exact_bottoms, exact_tops = 3, 2

    def allow_force_backward(self, bottom_index):
        return bottom_index != 2

    def reshape(self, bottom, top):
        c_prev, x, cont = bottom
        N = c_prev.shape[1] if c_prev.num_axes == 3 else -1
        if c_prev.num_axes != 3 or c_prev.shape[0] != 1:
            raise self.error(f"bottom 0 (c_prev) must be 1 × N × H, got {c_prev.shape}")
        H = c_prev.shape[2]
        if x.shape != (1, N, 4 * H):
            raise self.error(f"bottom 1 (gate inputs) must be 1 × N × 4H = {(1, N, 4 * H)}, got {x.shape}")
        if cont.shape != (1, N):
            raise self.error(f"bottom 2 (cont) must be 1 × N = {(1, N)}, got {cont.shape}")
        top[0].reshape_like(c_prev)
        top[1].reshape_like(c_prev)

    def forward(self, bottom, top):
        K.lstm_unit_forward(top[0].wdata(), top[1].wdata(), bottom[0].rdata(), bottom[1].rdata(), bottom[2].rdata())

    def backward(self, top, propagate_down, bottom):
        if propagate_down[2]:
            raise self.error("cannot backpropagate to the sequence continuation indicators (bottom 2, cont)")
        if not (propagate_down[0] or propagate_down[1]):
            return
        K.lstm_unit_backward(bottom[0].wdiff() if propagate_down[0] else None,
                             bottom[1].wdiff() if propagate_down[1] else None, top[0].rdiff(), top[1].rdiff(),
                             bottom[0].rdata(), bottom[1].rdata(), top[0].rdata(), bottom[2].rdata())
