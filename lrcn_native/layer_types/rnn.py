from ..backend import K
from ..layer import register
from .recurrent import Recurrent


@register
class RNN(Recurrent):
    """Caffe's RNN: h_t = tanh(W_hh·(cont_t·h_{t−1}) + W_xh·x_t + b_h [+ W_xh_static·x_static]),
    o_t = tanh(W_ho·h_t + b_o); top o (T × N × H). Blobs in Caffe's order: W_xh (H × D), b_h (H),
    [W_xh_static (H × S)], W_hh (H × H), W_ho (H × H), b_o (H). Bottoms, carried state and expose_hidden
    (h_0 / h_T only) as the LSTM (recurrent.py)."""
    type = "RNN"
    states = ("h",)

    def make_params(self, weight_filler, bias_filler):
        H = self.H
        self.add_param((H, self.D), weight_filler)
        self.add_param((H,), bias_filler)
        if self.static:
            self.add_param((H, self.S), weight_filler)
        self.add_param((H, H), weight_filler)
        self.add_param((H, H), weight_filler)
        self.add_param((H,), bias_filler)

    def reshape(self, bottom, top):
        super().reshape(bottom, top)
        T, N, H = self.T, self.N, self.H
        self.buffer("o", T, N, H)      # the output, kept apart from the top (which in-place layers may overwrite)
        self.buffer("hs", T, N, H)     # hidden states h_1..h_T
        self.buffer("hc", T, N, H)     # cont_t·h_{t−1}, the recurrent GEMM's input
        self.buffer("static_z", N, H)
        self.buffer("dzo", T, N, H)    # backward scratch (memory is only allocated when used)
        self.buffer("dz", T, N, H)
        self.buffer("dz_sum", N, H)
        self.buffer("dh_next", N, H)

    def _weights(self):
        W = [b.rdata() for b in self.blobs]
        s = 1 if self.static else 0
        return W[0], W[1], (W[2] if self.static else None), W[2 + s], W[3 + s], W[4 + s]

    def forward(self, bottom, top):
        (h_0,), (h_T,) = self.states_io(bottom, top)
        W_xh, b_h, W_static, W_hh, W_ho, b_o = self._weights()
        s = self.buffers
        K.rnn_forward(o=s["o"].wdata(), hs=s["hs"].wdata(), hc=s["hc"].wdata(), h_T=h_T,
                      static_z=s["static_z"].wdata() if self.static else None, x=bottom[0].rdata(),
                      cont=bottom[1].rdata(), x_static=bottom[2].rdata() if self.static else None, h_0=h_0,
                      W_xh=W_xh, b_h=b_h, W_static=W_static, W_hh=W_hh, W_ho=W_ho, b_o=b_o)
        K.axpby(top[0].wdata(), s["o"].rdata(), 1.0, 0.0)

    def backward(self, top, propagate_down, bottom):
        self.check_backward(propagate_down)
        (dh_0,), (dh_T,) = self.exposed_diffs(bottom, top, propagate_down)
        W_xh, _, W_static, W_hh, W_ho, _ = self._weights()
        s, k = self.buffers, 1 if self.static else 0
        K.rnn_backward(dx=self.wanted(bottom, propagate_down, 0),
                       dx_static=self.wanted(bottom, propagate_down, 2) if self.static else None, dh_0=dh_0,
                       dW_xh=self.param_diff(0), db_h=self.param_diff(1),
                       dW_static=self.param_diff(2) if self.static else None, dW_hh=self.param_diff(2 + k),
                       dW_ho=self.param_diff(3 + k), db_o=self.param_diff(4 + k), dzo=s["dzo"].wdata(),
                       dz=s["dz"].wdata(), dz_sum=s["dz_sum"].wdata() if self.static else None,
                       dh_next=s["dh_next"].wdata(), do_=top[0].rdiff(), dh_T=dh_T, o=s["o"].rdata(),
                       hs=s["hs"].rdata(), hc=s["hc"].rdata(), x=bottom[0].rdata(), cont=bottom[1].rdata(),
                       x_static=bottom[2].rdata() if self.static else None, W_xh=W_xh, W_static=W_static,
                       W_hh=W_hh, W_ho=W_ho)
