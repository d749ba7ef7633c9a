"""What Caffe's recurrent layers (LSTM in lstm.py, RNN in rnn.py) share: Caffe's RecurrentLayer.

Each runs the whole sequence in one native call (csrc/layers/lstm.h, rnn.h; their shared pieces in
recurrent.h) instead of Caffe's unrolled sub-net, with Caffe's semantics (CAFFE_FACTS.md §2):

* bottoms x (T × N × …, trailing axes flattened to D), cont (T × N), optionally a static input (N × …);
  T is fixed at setup, N may change. With ``expose_hidden`` the initial states follow as extra bottoms
  (h_0, c_0: 1 × N × H) and the final states as extra tops (h_T, c_T).
* Without ``expose_hidden`` every forward starts from the previous forward's final states (zeros at
  first), and no gradient crosses forward calls. The carried states are Blobs shaped 1 × N × H that are
  reshaped as Caffe reshapes its unrolled net's h_T/c_T blobs: when N changes, memory is kept while the
  count fits the capacity, so after N shrinks stream n < N' continues its own state, after N grows within
  the capacity the extra streams see whatever those positions last held, and after N grows past the
  capacity every stream starts from zeros (fresh memory).
* No gradient to cont: asking for one is an error.
* With ``expose_hidden``, unlike Caffe 9b89154 (which shares only the data of the exposed blobs, leaving
  the h_0/c_0 diffs unwritten and ignoring the h_T/c_T top diffs), we compute the true gradients: dh_0/dc_0
  when asked and the h_T/c_T top diffs flow back into the sequence.
* ``debug_info`` only concerns Caffe's unrolled net; it is accepted and has no effect here.
"""
import math

from ..backend import K
from ..blob import Blob
from ..layer import TEST, Layer
from ..proto.schema import B, FILLER, U


def _count(shape, axis):
    return math.prod(shape[axis:])  # Python ints: exact, and ~20× cheaper than np.prod per reshape


class Recurrent(Layer):
    """Caffe's RecurrentLayer: what LSTM and RNN share. Subclasses set ``states`` (names of the carried
    states) and implement make_params / forward / backward."""
    param_fields = {"recurrent_param": {"num_output": U, "weight_filler": FILLER, "bias_filler": FILLER,
                                        "debug_info": B, "expose_hidden": B}}
    states = ("h",)

    def __init__(self, param=None, phase=TEST):
        super().__init__(param, phase)
        self.expose = self.layer_param.msg("recurrent_param").bool("expose_hidden", False)
        k = len(self.states) if self.expose else 0
        self.min_bottoms, self.max_bottoms, self.exact_tops = 2 + k, 3 + k, 1 + k

    def allow_force_backward(self, bottom_index):
        return bottom_index != 1  # cont

    def setup(self, bottom, top):
        rp = self.layer_param.msg("recurrent_param")
        self.H = rp.int("num_output", 0)
        if self.H <= 0:
            raise self.error("recurrent_param.num_output must be positive", "recurrent_param")
        x = bottom[0]
        if x.num_axes < 2:
            raise self.error(f"bottom 0 must be T × N × ..., got shape {x.shape}")
        self.T, self.D = x.shape[0], _count(x.shape, 2)
        if self.T < 1:
            raise self.error("bottom 0 has no timesteps (T = 0)")
        self.static = len(bottom) > 2 + (len(self.states) if self.expose else 0)
        self.S = 0
        if self.static:
            if bottom[2].num_axes < 1:
                raise self.error("the static input (bottom 2) must be N × ...")
            self.S = _count(bottom[2].shape, 1)
        self.make_params(rp.msg("weight_filler"), rp.msg("bias_filler"))
        self.state = {s: Blob() for s in self.states}    # h_T (, c_T) of the last forward
        self.initial = {s: Blob() for s in self.states}  # h_0 (, c_0) of this forward

    def reshape(self, bottom, top):
        x, cont = bottom[0], bottom[1]
        if x.num_axes < 2 or x.shape[0] != self.T:
            raise self.error(f"input number of timesteps changed: bottom 0 is {x.shape}, T was {self.T} at setup")
        if _count(x.shape, 2) != self.D:
            raise self.error(f"bottom 0 has {_count(x.shape, 2)} values per step and stream, {self.D} at setup")
        self.N = N = x.shape[1]
        if cont.shape != (self.T, N):
            raise self.error(f"cont (bottom 1) must be T × N = {(self.T, N)}, got {cont.shape}")
        if self.static:
            xs = bottom[2]
            if xs.num_axes < 1 or xs.shape[0] != N or _count(xs.shape, 1) != self.S:
                raise self.error(f"the static input (bottom 2) must be N × ... with N = {N} and {self.S} values "
                                 f"per stream, got {xs.shape}")
        top[0].reshape(self.T, N, self.H)
        state_shape = (1, N, self.H)
        if self.expose:
            first = 2 + self.static
            for i, name in enumerate(self.states):
                shape = bottom[first + i].shape
                if shape != state_shape:
                    raise self.error(f"bottom {first + i} ({name}_0) must be {state_shape}, got {shape}")
                top[1 + i].reshape(state_shape)
        else:
            for blob in list(self.state.values()) + list(self.initial.values()):
                blob.reshape(state_shape)

    def states_io(self, bottom, top):
        """(initial states to read, final states to write) for this forward: the exposed bottoms/tops, or
        the carried states (copied into the initial ones first, as Caffe copies h_T into h_0)."""
        if self.expose:
            first = 2 + self.static
            return ([bottom[first + i].rdata() for i in range(len(self.states))],
                    [top[1 + i].wdata() for i in range(len(self.states))])
        for s in self.states:
            K.axpby(self.initial[s].wdata(), self.state[s].rdata(), 1.0, 0.0)
        return ([self.initial[s].rdata() for s in self.states], [self.state[s].wdata() for s in self.states])

    def check_backward(self, propagate_down):
        if propagate_down[1]:
            raise self.error("cannot backpropagate to the sequence continuation indicators (bottom 1, cont)")

    def wanted(self, bottom, propagate_down, i):
        """bottom[i]'s diff if it is to be computed, else None."""
        return bottom[i].wdiff() if i < len(bottom) and propagate_down[i] else None

    def param_diff(self, i):
        return self.blobs[i].wdiff() if self.param_propagate_down[i] else None

    def exposed_diffs(self, bottom, top, propagate_down):
        """(diffs of the initial-state bottoms to compute, diffs of the final-state tops), or Nones."""
        n = len(self.states)
        if not self.expose:
            return [None] * n, [None] * n
        first = 2 + self.static
        return ([self.wanted(bottom, propagate_down, first + i) for i in range(n)],
                [top[1 + i].rdiff() for i in range(n)])
