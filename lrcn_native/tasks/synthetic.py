"""Synthetic inputs for `lrcn time`: timing does not depend on the data, so a net whose data files are missing
(a train prototxt on a machine without the dataset) is timed with its data layers replaced by Input layers
of the shapes they would produce. A data layer (a file-reading layer, or a Python layer without bottoms)
is replaced when it cannot be set up, or when ``--input-shape`` names one of its tops; each top's shape is
the one given, else the one its parameters declare (batch_size, crop_size, ...), else an error asks for it.
"""
import logging
import re

from ..blob import Blob
from ..layer import REGISTRY
from ..proto.text import Message

log = logging.getLogger("lrcn_native")


def parse_input_shape(text):
    """--input-shape 'name=N,C,H,W' -> (name, (N, C, H, W))."""
    name, eq, dims = text.partition("=")
    try:
        shape = tuple(int(d) for d in dims.split(","))
    except ValueError:
        shape = ()
    if not (name and eq and shape) or min(shape) <= 0:
        raise ValueError(f"--input-shape {text!r}: give blob=N,C,H,W (positive integers, any number of axes)")
    return name, shape


def _is_data_layer(lp):
    from ..layer_types.data import _DataLayer
    kind = lp.str("type")
    return not lp.all("bottom") and (kind == "Python" or issubclass(REGISTRY.get(kind, object), _DataLayer))


def _unreadable(lp, phase):
    """(the layer object or None, why its data cannot be read or None)."""
    from ..net import _make_layer
    try:
        layer = _make_layer(lp, phase)
    except Exception as e:  # a Python layer's module missing, ...
        return None, str(e)
    try:
        layer.check_counts([], [Blob() for _ in lp.all("top")])
        layer.setup([], [Blob() for _ in lp.all("top")])
    except Exception as e:  # a missing list, database or HDF5 file
        return layer, str(e)
    finally:
        prefetcher = getattr(layer, "prefetcher", None)
        if prefetcher is not None:
            prefetcher.close()
    return layer, None


def _input_layer(lp, shapes):
    inp = Message(lp.filename, lp.line, lp.col)
    inp.add("name", lp.str("name"))
    inp.add("type", "Input")
    param = Message(lp.filename, lp.line, lp.col)
    for top, shape in zip(lp.strs("top"), shapes):
        inp.add("top", top)
        dims = Message(lp.filename, lp.line, lp.col)
        for d in shape:
            dims.add("dim", int(d))
        param.add("shape", dims)
    inp.add("input_param", param)
    for rule in ("include", "exclude"):
        for r in lp.msgs(rule):
            inp.add(rule, r)
    return inp


def with_synthetic_inputs(netp, phase, level=0, stages=(), given=None):
    """``netp`` (a parsed net) with its unreadable data layers in this phase/level/stages replaced by Input
    layers -> (the net Message, [note per replaced layer]). The same Message when nothing is replaced."""
    from ..net import _included
    from ..proto.schema import validate_net
    from ..proto.upgrade import upgrade_net
    given = given or {}
    netp = validate_net(upgrade_net(netp))
    if "state" in netp:  # the file's own state is the default, as Net applies it
        level = level or netp.msg("state").int("level", 0)
        stages = stages or tuple(netp.msg("state").strs("stage"))
    data = [lp for lp in netp.msgs("layer") if _included(lp, phase, level, stages) and _is_data_layer(lp)]
    data_tops = [t for lp in data for t in lp.strs("top")]
    unknown = [name for name in given if name not in data_tops]
    if unknown:
        raise ValueError(f"--input-shape {', '.join(unknown)}: not a top of a data layer of this net in this phase "
                         f"(data layer tops: {', '.join(data_tops) or 'none'})")
    layers, notes = [], []
    for lp in netp.msgs("layer"):
        if not any(lp is d for d in data):
            layers.append(lp)
            continue
        tops = lp.strs("top")
        forced = any(t in given for t in tops)
        layer, why = _unreadable(lp, phase)
        if why is None and not forced:
            layers.append(lp)
            continue
        declared = layer.declared_shapes(len(tops)) if hasattr(layer, "declared_shapes") else [None] * len(tops)
        shapes = [given.get(t, d) for t, d in zip(tops, declared)]
        what = f"{lp.filename}:{lp.line}: layer '{lp.str('name')}' ({lp.str('type')})"
        why = why and re.sub(r"^.*?: layer '[^']*' \([^)]*\): ", "", why)  # the layer is named once, by `what`
        missing = [t for t, s in zip(tops, shapes) if s is None]
        if missing:
            raise ValueError(f"{what} cannot read its data ({why or 'replaced by --input-shape'}), and its parameters "
                             f"do not tell the shape of {', '.join(missing)}: give "
                             + " ".join(f"--input-shape {t}=N,C,H,W" for t in missing))
        layers.append(_input_layer(lp, shapes))
        notes.append(f"{what}: " + (f"cannot read its data ({why}); " if why else "")
                     + "timed with synthetic inputs " + ", ".join(f"{t} {'x'.join(map(str, s))}"
                                                                 for t, s in zip(tops, shapes)))
    if not notes:
        return netp, notes
    out = Message(netp.filename, netp.line, netp.col)
    for name, values in netp.fields.items():
        out.fields[name], out.where[name] = list(values), list(netp.where[name])
    out.fields["layer"] = layers
    return out, notes
