"""The Layer base class (Caffe's Layer, and pycaffe's caffe.Layer for Python layers) and the registry.

A layer implements ``setup`` (read parameters, create ``self.blobs``), ``reshape`` (shape the tops),
``forward`` and ``backward``. Bottoms and tops are lists of Blobs; a layer calls kernels of
``lrcn_native.backend.K`` on ``blob.rdata()``/``wdata()``..., which are numpy arrays in CPU mode and cupy
arrays in GPU mode, so one Python method serves both devices.
"""

from . import mode
from .backend import K
from .blob import Blob
from .proto.text import Message

TRAIN, TEST = 0, 1
PHASES = ("TRAIN", "TEST")

REGISTRY = {}


def register(cls):
    """Class decorator: makes ``cls`` the implementation of prototxt type ``cls.type``."""
    REGISTRY[cls.type] = cls
    return cls


def layer_type_list():
    """pycaffe's caffe.layer_type_list(): every layer type a prototxt may name, sorted (Caffe's registry)."""
    return sorted(list(REGISTRY) + ["Python"])


class LayerError(ValueError):
    pass


class BlobVec(list):
    """A layer's parameter blobs; ``add_blob(*shape)`` as in pycaffe's Python layers."""

    def add_blob(self, *shape):
        self.append(Blob(*shape))


class Layer:
    type = ""
    # Bottom/top counts Caffe checks at setup (None: unchecked).
    exact_bottoms = min_bottoms = max_bottoms = None
    exact_tops = min_tops = max_tops = None
    is_loss = False  # loss layers weigh top 0 by 1 unless loss_weight says otherwise

    def __init__(self, param=None, phase=TEST):
        self.layer_param = param if param is not None else Message()
        self.name = self.layer_param.str("name", "")
        self.phase = phase
        self.blobs = BlobVec()
        self.param_propagate_down = []
        self.buffers = {}  # name -> scratch Blob (buffer())

    # --- to override --------------------------------------------------------------------------
    def setup(self, bottom, top):
        pass

    def reshape(self, bottom, top):
        raise NotImplementedError(f"{type(self).__name__}.reshape")

    def forward(self, bottom, top):
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, top, propagate_down, bottom):
        if any(propagate_down):
            raise self.error(f"{self.type} layers cannot backpropagate to their bottoms")

    def allow_force_backward(self, bottom_index):
        return True

    # --- helpers ------------------------------------------------------------------------------
    def error(self, msg, field=None):
        """A LayerError naming the file, line, layer name and type."""
        p = self.layer_param
        line = p.where[field][-1][0] if field and field in p.where else p.line
        return LayerError(f"{p.filename}:{line}: layer '{self.name}' ({self.type}): {msg}")

    def check_counts(self, bottom, top):
        def check(n, exact, lo, hi, what):
            if exact is not None and n != exact:
                raise self.error(f"takes exactly {exact} {what} blob(s), got {n}")
            if lo is not None and n < lo:
                raise self.error(f"takes at least {lo} {what} blob(s), got {n}")
            if hi is not None and n > hi:
                raise self.error(f"takes at most {hi} {what} blob(s), got {n}")
        check(len(bottom), self.exact_bottoms, self.min_bottoms, self.max_bottoms, "bottom")
        check(len(top), self.exact_tops, self.min_tops, self.max_tops, "top")

    def canonical_axis(self, axis, num_axes, field=None):
        """Caffe's CanonicalAxisIndex: ``axis`` in [−num_axes, num_axes), negative counting from the end."""
        if not -num_axes <= axis < num_axes:
            raise self.error(f"axis {axis} is out of range for a bottom with {num_axes} axes", field)
        return axis % num_axes

    def buffer(self, name, *shape):
        """The layer's scratch Blob ``name``, reshaped to ``shape`` and kept between calls (forward to
        backward): the one way a layer holds working memory. Its memory follows the mode's device through
        ``rdata``/``wdata`` like any Blob, and is only allocated when first used."""
        blob = self.buffers.get(name)
        if blob is None:
            blob = self.buffers[name] = Blob()
        blob.reshape(shape)
        return blob

    def input_for_backward(self, bottom, top):
        """``bottom`` as backward will need it: the Blob itself, or, when the layer runs in place (``top`` is
        ``bottom``, so forward overwrites it), a copy in the scratch buffer "bottom"."""
        if top is not bottom:
            return bottom
        kept = self.buffer("bottom", *bottom.shape)
        K.axpby(kept.wdata(), bottom.rdata(), 1.0, 0.0)
        return kept

    def add_param(self, shape, filler):
        """Creates a learnable blob of ``shape`` filled by the FillerParameter message ``filler``."""
        from .filler import fill
        blob = Blob()
        blob.reshape(shape)  # Blob(*()) would be the empty blob, not the scalar a 0-axis shape means
        fill(blob.data, filler)  # in place: no temporary copy of a 100M-parameter fc layer
        self.blobs.append(blob)
        return blob

    @staticmethod
    def gpu():
        return mode.gpu()
