"""Data-free source layers: Input (shapes from input_param) and DummyData (filled blobs)."""

from .. import parallel
from ..filler import fill
from ..layer import Layer, register
from ..proto.schema import BLOB_SHAPE, FILLER, Rep, U


def _shapes(layer, param, n_tops):
    shapes = [tuple(s.ints("dim")) for s in param.msgs("shape")]
    if len(shapes) not in (1, n_tops):
        raise layer.error(f"needs 1 or {n_tops} shape entries, got {len(shapes)}")
    return shapes if len(shapes) == n_tops else shapes * n_tops


@register
class Input(Layer):
    """Tops whose values the user writes (net.blobs[name].data[...] = x); shapes from input_param."""
    type = "Input"
    param_fields = {"input_param": {"shape": Rep(BLOB_SHAPE)}}
    exact_bottoms = 0
    min_tops = 1

    def setup(self, bottom, top):
        param = self.layer_param.msg("input_param")
        if param.all("shape"):
            for blob, shape in zip(top, _shapes(self, param, len(top))):
                blob.reshape(shape)

    def reshape(self, bottom, top):
        pass  # shapes change only when the user reshapes the blobs

    def forward(self, bottom, top):
        pass

    def backward(self, top, propagate_down, bottom):
        pass


@register
class DummyData(Layer):
    """Tops filled once per forward by data_filler (constant 0 by default), shapes from shape or
    num/channels/height/width."""
    type = "DummyData"
    param_fields = {"dummy_data_param": {"data_filler": Rep(FILLER), "shape": Rep(BLOB_SHAPE), "num": Rep(U),
                                         "channels": Rep(U), "height": Rep(U), "width": Rep(U)}}
    exact_bottoms = 0
    min_tops = 1

    def setup(self, bottom, top):
        p = self.layer_param.msg("dummy_data_param")
        n = len(top)
        if p.all("shape"):
            shapes = _shapes(self, p, n)
        else:
            legacy = [p.ints(k) for k in ("num", "channels", "height", "width")]
            if any(len(v) not in (1, n) for v in legacy):
                raise self.error("num/channels/height/width need 1 or one-per-top values")
            shapes = [tuple(v[i if len(v) == n else 0] for v in legacy) for i in range(n)]
        fillers = p.msgs("data_filler")
        if len(fillers) not in (0, 1, n):
            raise self.error(f"needs 0, 1 or {n} data_filler entries, got {len(fillers)}")
        self.fillers = fillers if len(fillers) == n else (fillers * n if fillers else [None] * n)
        for blob, shape in zip(top, shapes):
            blob.reshape(shape)

    def reshape(self, bottom, top):
        pass

    def forward(self, bottom, top):
        rank, count = parallel.data_shard(self.phase)
        for i, (blob, f) in enumerate(zip(top, self.fillers)):
            if f is None:
                blob.data[...] = 0
            elif count == 1 or f.str("type", "constant") == "constant":
                fill(blob.data, f)
            else:  # data-parallel: the global batch's rows are drawn on every rank, rows rank::count kept
                whole = self.buffer(f"global{i}", count * blob.shape[0], *blob.shape[1:]).data
                fill(whole, f)
                blob.data[...] = whole[rank::count]

    def backward(self, top, propagate_down, bottom):
        pass
