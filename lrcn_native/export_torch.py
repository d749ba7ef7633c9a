"""A net's weights as a PyTorch ``state_dict``, and a torch module that runs the net with them
(``lrcn export-torch``). PyTorch is optional: only this module imports it.

``TorchNet(net)`` has one submodule per layer, named after the Caffe layer ('.' becomes '_'; the state_dict
keys are ``<layer>.weight`` and the like), and runs the layers in the net's order over named tensors: ``TorchNet(net)(data=x)`` returns every
blob by name, as ``net.blobs`` holds them after ``net.forward``. Parameters are converted to PyTorch's
layouts: Convolution (with group) → ``nn.Conv2d``, InnerProduct → ``nn.Linear`` (``transpose`` undone),
BatchNorm → ``running_mean``/``running_var`` with Caffe's scale factor divided out, Scale/Bias →
``weight``/``bias``, PReLU → ``nn.PReLU``'s ``weight``, Embed → ``nn.Embedding``'s ``weight`` (+ ``bias``),
LSTM → ``nn.LSTM`` with the gate rows reordered from Caffe's i, f, o, g to PyTorch's i, f, g, o, b_c as
``bias_ih_l0`` (``bias_hh_l0`` zero) and a static input concatenated to every step's input.

What PyTorch's modules cannot express, and TorchNet refuses rather than approximate: an LSTM ``cont`` of 0
after the first step (a sequence restarting mid-batch; nn.LSTM starts each call from zero states, as Caffe
does when ``cont`` is 0 at t = 0, and carries no state between calls), ``expose_hidden``, N-d convolution,
STOCHASTIC pooling, and the layer types not listed in ``CONVERTERS`` (losses, data layers, RNN).
"""
import math

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError as e:
    raise ImportError("exporting to PyTorch needs torch, which is not installed: pip install torch") from e

from .backend import K
from .layer import TEST
from .layer_types.eltwise import OPS


def _tensor(blob):
    return torch.from_numpy(blob.data.copy())


class _Fn(nn.Module):
    """A layer without parameters: ``fn(*bottoms)``."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *bottoms):
        return self.fn(*bottoms)


class _Shape:
    """What a layer's ``top_shape`` reads of a bottom Blob, for a tensor."""

    def __init__(self, shape):
        self.shape, self.num_axes, self.count = tuple(shape), len(shape), math.prod(shape)


class _Linear(nn.Linear):
    """InnerProduct: the axes from ``axis`` on flattened to K."""

    def __init__(self, layer):
        w = _tensor(layer.blobs[0])
        w = w.t() if layer.transpose else w  # transpose: true stores K × num_output
        super().__init__(w.shape[1], w.shape[0], bias=layer.bias_term)
        self.axis = layer.axis
        with torch.no_grad():
            self.weight.copy_(w)
            if layer.bias_term:
                self.bias.copy_(_tensor(layer.blobs[1]))

    def forward(self, x):
        return super().forward(x.flatten(self.axis))


def _conv(layer, shape):
    kh, kw, ph, pw, sh, sw, dh, dw, group = layer.geom
    if layer.axis != 1 or len(shape) != 4:
        raise ValueError(f"layer '{layer.name}': only 2-d convolution (N × C × H × W, axis 1) has a PyTorch "
                         f"module here, not bottom shape {shape} with axis {layer.axis}")
    conv = nn.Conv2d(layer.channels, layer.num_output, (kh, kw), (sh, sw), (ph, pw), (dh, dw), group,
                     bias=layer.bias_term)
    with torch.no_grad():
        conv.weight.copy_(_tensor(layer.blobs[0]))
        if layer.bias_term:
            conv.bias.copy_(_tensor(layer.blobs[1]))
    return conv


def _pool(layer, shape):
    """Caffe's pooling geometry (output size with its ceil rule, AVE dividing by the window clipped to the
    padded extent, MAX over in-image cells only) from explicit padding: ``pad`` before, and after whatever
    makes the last window end where Caffe's does (negative: cropped)."""
    if layer.method == "STOCHASTIC":
        raise ValueError(f"layer '{layer.name}': STOCHASTIC pooling has no PyTorch equivalent")

    def pool(x):
        (kh, kw) = x.shape[2:] if layer.global_pooling else layer.kernel
        (ph, pw), (sh, sw) = layer.pad, layer.stride
        sizes = [K.pooling_output_size(n, k, s, p, layer.ceil_mode)
                 for n, k, s, p in ((x.shape[2], kh, sh, ph), (x.shape[3], kw, sw, pw))]
        after = [(n - 1) * s + k - p - size for n, k, s, p, size in
                 zip(sizes, (kh, kw), (sh, sw), (ph, pw), x.shape[2:])]
        pads = (pw, after[1], ph, after[0])
        if layer.method == "MAX":
            return F.max_pool2d(F.pad(x, pads, value=-math.inf), (kh, kw), (sh, sw))
        total = F.avg_pool2d(F.pad(x, pads), (kh, kw), (sh, sw), divisor_override=1)
        inside = F.pad(torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype), (pw, pw, ph, ph), value=1.0)
        inside = F.pad(inside, (0, after[1] - pw, 0, after[0] - ph))  # cells past H + pad do not count
        return total / F.avg_pool2d(inside, (kh, kw), (sh, sw), divisor_override=1)
    return _Fn(pool)


def _lrn(layer, shape):
    n, alpha, beta, k = layer.local_size, layer.alpha, layer.beta, layer.k
    if layer.region == "ACROSS_CHANNELS":  # y = x (k + α/n Σ_window x²)^−β, PyTorch's formula
        return _Fn(lambda x: F.local_response_norm(x, n, alpha, beta, k))
    # WITHIN_CHANNEL: y = x (1 + α/n² Σ_{n×n, zero-padded} x²)^−β
    return _Fn(lambda x: x * (1 + alpha * F.avg_pool2d(x * x, n, 1, (n - 1) // 2,
                                                          count_include_pad=True)) ** -beta)


class _BatchNorm(nn.Module):
    """Caffe's BatchNorm: running statistics = blobs / scale factor (0 when the factor is 0)."""

    def __init__(self, layer):
        super().__init__()
        s = float(layer.blobs[2].data.reshape(-1)[0])
        factor = 0.0 if s == 0 else 1.0 / s
        self.register_buffer("running_mean", _tensor(layer.blobs[0]) * factor)
        self.register_buffer("running_var", _tensor(layer.blobs[1]) * factor)
        self.eps, self.global_stats = float(layer.eps), layer.use_global_stats

    def forward(self, x):
        if self.global_stats:
            return F.batch_norm(x, self.running_mean, self.running_var, eps=self.eps)
        return F.batch_norm(x, None, None, training=True, eps=self.eps)  # the batch's own statistics


class _Broadcast(nn.Module):
    """Scale and Bias: the operand (learned, or bottom 1) over bottom 0's axes [axis, axis + its axes)."""

    def __init__(self, layer):
        super().__init__()
        self.axis, self.axes, self.scale = layer.axis, len(layer.operand_shape), layer.type == "Scale"
        blobs = list(layer.blobs)
        if self.scale and blobs and len(blobs) == 1 + layer.bias_term:  # a learned factor
            self.weight = nn.Parameter(_tensor(blobs.pop(0)))
        if blobs:  # Scale's bias_term, or Bias's learned operand
            self.bias = nn.Parameter(_tensor(blobs.pop(0)))

    def forward(self, x, operand=None):
        view = (math.prod(x.shape[:self.axis]), -1, math.prod(x.shape[self.axis + self.axes:]))
        y = x.reshape(view)
        if self.scale:
            y = y * (self.weight if operand is None else operand).reshape(1, -1, 1)
            if hasattr(self, "bias"):
                y = y + self.bias.reshape(1, -1, 1)
        else:
            y = y + (self.bias if operand is None else operand).reshape(1, -1, 1)
        return y.reshape(x.shape)


class _PReLU(nn.PReLU):
    def __init__(self, layer):
        super().__init__(layer.blobs[0].count)
        with torch.no_grad():
            self.weight.copy_(_tensor(layer.blobs[0]))


class _Embed(nn.Embedding):
    """Embed with indices as floats; −1 (LRCN's padding) gives a zero row (+ bias), as the layer does."""

    def __init__(self, layer):
        super().__init__(layer.K, layer.N)
        with torch.no_grad():
            self.weight.copy_(_tensor(layer.blobs[0]))
        if layer.bias_term:
            self.bias = nn.Parameter(_tensor(layer.blobs[1]))

    def forward(self, index):
        i = index.long()
        y = super().forward(i.clamp(min=0)) * (i >= 0).unsqueeze(-1).to(self.weight.dtype)
        return y + self.bias if hasattr(self, "bias") else y


def _gates(w):
    """Caffe's gate blocks i, f, o, g (rows of the 4H axis) in PyTorch's order i, f, g, o."""
    i, f, o, g = w.chunk(4, 0)
    return torch.cat([i, f, g, o], 0)


class _LSTM(nn.LSTM):
    """Caffe's LSTM (bottoms x: T × N × ..., cont: T × N, optional static: N × ...) as one-layer nn.LSTM; the
    static input joins every step's input, so weight_ih_l0 = [W_xc | W_xc_static]."""

    def __init__(self, layer):
        if layer.expose:
            raise ValueError(f"layer '{layer.name}': an LSTM with expose_hidden has no nn.LSTM equivalent here")
        super().__init__(layer.D + layer.S, layer.H)
        self.caffe_name = layer.name
        w_xc, b_c = _tensor(layer.blobs[0]), _tensor(layer.blobs[1])
        if layer.static:
            w_xc = torch.cat([w_xc, _tensor(layer.blobs[2])], 1)
        with torch.no_grad():
            self.weight_ih_l0.copy_(_gates(w_xc))
            self.weight_hh_l0.copy_(_gates(_tensor(layer.blobs[-1])))
            self.bias_ih_l0.copy_(_gates(b_c))
            self.bias_hh_l0.zero_()  # Caffe has the one bias b_c

    def forward(self, x, cont, static=None):
        T, N = cont.shape
        if (cont[1:] != 1).any():
            t = int((cont[1:] != 1).any(1).nonzero()[0]) + 1
            raise ValueError(f"layer '{self.caffe_name}': cont is 0 at step {t} (a sequence restarting "
                             "mid-batch), which nn.LSTM cannot express: run each sequence as its own call")
        x = x.reshape(T, N, -1)
        if static is not None:
            x = torch.cat([x, static.reshape(1, N, -1).expand(T, N, -1)], 2)
        return super().forward(x)[0]


def _eltwise(layer, shape):
    op = OPS[layer.op]
    if op == "PROD":
        return _Fn(lambda *xs: math.prod(xs[1:], start=xs[0]))
    if op == "MAX":
        return _Fn(lambda *xs: torch.stack(xs).amax(0))
    return _Fn(lambda *xs: sum(c * x for c, x in zip(layer.coeff, xs)))


def _param(layer, field, name, default):
    return layer.layer_param.msg(field).float(name, default)


def _power(layer, shape):  # (shift + scale·x)^power
    p, a, b = (_param(layer, "power_param", n, d) for n, d in (("power", 1.0), ("scale", 1.0), ("shift", 0.0)))
    return _Fn(lambda x: (b + a * x) ** p)


def _exp_log(layer, shape):  # Exp: base^(shift + scale·x); Log: log_base(shift + scale·x); base −1: e
    field = "exp_param" if layer.type == "Exp" else "log_param"
    base, a, b = (_param(layer, field, n, d) for n, d in (("base", -1.0), ("scale", 1.0), ("shift", 0.0)))
    ln_base = 1.0 if base == -1.0 else math.log(base)
    if layer.type == "Exp":
        return _Fn(lambda x: torch.exp(ln_base * (b + a * x)))
    return _Fn(lambda x: torch.log(b + a * x) / ln_base)


def _view(layer, shape):  # Reshape, Flatten: the layer's own shape rule
    return _Fn(lambda x: x.reshape(layer.top_shape(_Shape(x.shape))))


def _fn(fn):
    return lambda layer, shape: _Fn(fn(layer))


# Caffe layer type -> module builder (layer, its first bottom's shape at export).
CONVERTERS = {
    "Convolution": _conv,
    "InnerProduct": lambda layer, shape: _Linear(layer),
    "Pooling": _pool,
    "LRN": _lrn,
    "BatchNorm": lambda layer, shape: _BatchNorm(layer),
    "Scale": lambda layer, shape: _Broadcast(layer),
    "Bias": lambda layer, shape: _Broadcast(layer),
    "PReLU": lambda layer, shape: _PReLU(layer),
    "Embed": lambda layer, shape: _Embed(layer),
    "LSTM": lambda layer, shape: _LSTM(layer),
    "Eltwise": _eltwise,
    "Power": _power,
    "Exp": _exp_log,
    "Log": _exp_log,
    "Reshape": _view,
    "Flatten": _view,
    "ReLU": _fn(lambda layer: lambda x, s=_param(layer, "relu_param", "negative_slope", 0.0):
                F.leaky_relu(x, s) if s else F.relu(x)),
    "ELU": _fn(lambda layer: lambda x, a=_param(layer, "elu_param", "alpha", 1.0): F.elu(x, a)),
    "Threshold": _fn(lambda layer: lambda x, t=_param(layer, "threshold_param", "threshold", 0.0):
                     (x > t).to(x.dtype)),
    "Sigmoid": _fn(lambda layer: torch.sigmoid),
    "TanH": _fn(lambda layer: torch.tanh),
    "AbsVal": _fn(lambda layer: torch.abs),
    "BNLL": _fn(lambda layer: F.softplus),  # log(1 + e^x)
    "Dropout": lambda layer, shape: nn.Dropout(_param(layer, "dropout_param", "dropout_ratio", 0.5)),
    "Softmax": _fn(lambda layer: lambda x: F.softmax(x, layer.axis)),
    "Concat": _fn(lambda layer: lambda *xs: torch.cat(xs, layer.axis)),
    "Split": _fn(lambda layer: lambda x: x),  # the one tensor under each top's name
    "Silence": _fn(lambda layer: lambda *xs: ()),
}


class TorchNet(nn.Module):
    """A built Net as a torch module with the net's current weights (see the module docstring)."""

    def __init__(self, net):
        super().__init__()
        self.inputs, self.steps = list(net.inputs), []  # steps: (submodule key, bottom names, top names)
        for i, (name, layer) in enumerate(zip(net._layer_names, net.layers)):
            if layer.type == "Input":
                continue
            if layer.type not in CONVERTERS:
                raise ValueError(f"layer '{name}' of type {layer.type} has no PyTorch counterpart here; "
                                 f"exportable types: {', '.join(sorted(CONVERTERS))}")
            key = name.replace(".", "_")
            if key in self._modules:
                raise ValueError(f"layer '{name}': two layers map to the submodule name '{key}'")
            bottoms = net.bottom_names[name]
            shape = net.blobs[bottoms[0]].data.shape if bottoms else ()
            self.add_module(key, CONVERTERS[layer.type](layer, shape))
            self.steps.append((key, bottoms, net.top_names[name]))
        self.train(net.phase != TEST)  # a TEST net's Dropout is the identity, as in eval mode

    def forward(self, **inputs):
        missing = [n for n in self.inputs if n not in inputs]
        if missing:
            raise ValueError(f"missing input(s) {', '.join(missing)} (the net's inputs: {', '.join(self.inputs)})")
        blobs = dict(inputs)
        for key, bottoms, tops in self.steps:
            out = getattr(self, key)(*(blobs[b] for b in bottoms))
            outs = out if isinstance(out, tuple) else (out,) * len(tops)  # Split: one tensor, many names
            blobs.update(zip(tops, outs))
        return blobs


def export(weights, model, output, phase=TEST, level=0, stages=()):
    """Writes ``output`` (torch.save): the state_dict of ``TorchNet`` for the net ``model`` (in that phase,
    level and stages) with ``weights``; returns the module. ``TorchNet(Net(model, ...))`` followed by
    ``load_state_dict(torch.load(output))`` gives it back where only the prototxt and the .pt travel."""
    from .fileio import atomic_write
    from .net import Net
    module = TorchNet(Net(model, phase, weights=weights, level=level, stages=stages))
    state = module.state_dict()
    atomic_write(output, lambda tmp: torch.save(state, tmp))
    return module
