from ..backend import K
from ..layer import Layer, register
from ..proto.schema import B, FILLER, U


@register
class Embed(Layer):
    """Caffe's Embed: a lookup table. top = bottom's shape × num_output, top[..., :] = weight[index] (+ bias),
    weight input_dim × num_output. Indices are floats holding integers; −1 (LRCN's padding) gives a zero
    row (top = bias, or 0) and sends no gradient to the weights; any other index outside [0, input_dim) or
    not an integer is an error. No gradient to the indices."""
    type = "Embed"
    param_fields = {"embed_param": {"num_output": U, "input_dim": U, "bias_term": B, "weight_filler": FILLER,
                                    "bias_filler": FILLER}}
    exact_bottoms = exact_tops = 1

    def allow_force_backward(self, bottom_index):
        return False

    def setup(self, bottom, top):
        ep = self.layer_param.msg("embed_param")
        self.K, self.N = ep.int("input_dim", 0), ep.int("num_output", 0)
        if self.K <= 0:
            raise self.error("embed_param.input_dim must be positive", "embed_param")
        if self.N <= 0:
            raise self.error("embed_param.num_output must be positive", "embed_param")
        self.bias_term = ep.bool("bias_term", True)
        self.add_param((self.K, self.N), ep.msg("weight_filler"))
        if self.bias_term:
            self.add_param((self.N,), ep.msg("bias_filler"))

    def reshape(self, bottom, top):
        top[0].reshape(bottom[0].shape + (self.N,))

    def forward(self, bottom, top):
        bias = self.blobs[1].rdata() if self.bias_term else None
        bad = K.embed_forward(top[0].wdata(), bottom[0].rdata(), self.blobs[0].rdata(), bias)
        if bad >= 0:
            value = float(bottom[0].data_at(False).reshape(-1)[bad])
            raise self.error(f"index {value!r} at position {bad} of bottom 0 is not an integer in [0, {self.K}) "
                             f"(input_dim) or -1 (padding)")

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            raise self.error("cannot backpropagate to the indices (bottom 0)")
        pd = self.param_propagate_down
        weight_diff = self.blobs[0].wdiff() if pd[0] else None
        bias_diff = self.blobs[1].wdiff() if self.bias_term and pd[1] else None
        if weight_diff is not None or bias_diff is not None:
            K.embed_backward(weight_diff, bias_diff, top[0].rdiff(), bottom[0].rdata(), self.K)
