"""The fields of Caffe's prototxt messages, so that an unknown or mistyped field is an error at its line.

Field names and types are caffe.proto's (BVLC master), plus fields the LRCN forks added (marked
"fork"). Scalar kinds: int, float, bool, str, enum (an identifier), and "any" for the parameter messages of
layer types this package does not implement (the unknown layer type is reported instead). Validation
only checks; the layers read values with the Message accessors.
"""
from .text import Ident, Message, PrototxtError

F, I, B, S, E = "float", "int", "bool", "str", "enum"
U, L = "uint32", "int64"  # I is int32: every integer is range-checked against its caffe.proto type


class Rep:
    """A repeated field of ``kind`` (caffe.proto's ``repeated``); any other field given twice is an error."""
    __slots__ = ("kind",)

    def __init__(self, kind):
        self.kind = kind

    def __eq__(self, other):  # two layer types may declare one message (assemble_layer_schema)
        return isinstance(other, Rep) and self.kind == other.kind

    __hash__ = object.__hash__


_INT_RANGES = {I: (-2**31, 2**31 - 1), U: (0, 2**32 - 1), L: (-2**63, 2**63 - 1)}

FILLER = {"type": S, "value": F, "min": F, "max": F, "mean": F, "std": F, "sparse": I, "variance_norm": E}
BLOB_SHAPE = {"dim": Rep(L)}
NET_STATE_RULE = {"phase": E, "min_level": I, "max_level": I, "stage": Rep(S), "not_stage": Rep(S)}
NET_STATE = {"phase": E, "level": I, "stage": Rep(S)}
PARAM_SPEC = {"name": S, "share_mode": E, "lr_mult": F, "decay_mult": F}
BLOB_PROTO = {"shape": BLOB_SHAPE, "data": Rep(F), "diff": Rep(F), "double_data": Rep(F), "double_diff": Rep(F), "num": I,
              "channels": I, "height": I, "width": I}
TRANSFORM = {"scale": F, "mirror": B, "crop_size": U, "mean_file": S, "mean_value": Rep(F), "force_color": B,
             "force_gray": B, "flow": B}  # flow: activity fork

# LayerParameter's own fields. Each layer type's parameter message (convolution_param, ...) is declared
# by its class as ``param_fields`` beside its code (lrcn_native/layer_types/<stem>.py) and joins LAYER from the
# registry when a net is validated (assemble_layer_schema).
LAYER = {"name": S, "type": S, "bottom": Rep(S), "top": Rep(S), "phase": E, "loss_weight": Rep(F),
         "param": Rep(PARAM_SPEC), "blobs": Rep(BLOB_PROTO), "propagate_down": Rep(B),
         "include": Rep(NET_STATE_RULE), "exclude": Rep(NET_STATE_RULE),
         "transform_param": TRANSFORM,
         "loss_param": {"ignore_label": I, "normalization": E, "normalize": B},   # read by every loss layer
         "python_param": {"module": S, "layer": S, "param_str": S, "share_in_parallel": B},  # Net's Python layers
         # Caffe layer types we do not implement: checked where cheap, then the unknown type is reported
         "hdf5_output_param": {"file_name": S}}
# ... and the rest of their parameter messages: accepted, not checked.
for _name in ("clip_param", "contrastive_loss_param", "hinge_loss_param", "infogain_loss_param",
              "mvn_param", "parameter_param", "spp_param", "swish_param", "window_data_param",
              "lstm_param"):
    LAYER[_name] = "any"
_CORE = dict(LAYER)
_declared_by = {}  # message -> the layer type that declared it


def assemble_layer_schema():
    """Adds every registered layer class's ``param_fields`` to LAYER (in place: NET and SOLVER hold it).
    Two types may share a message (LSTM and RNN share recurrent_param) only with the same fields."""
    from ..layer import REGISTRY
    for type_name, cls in REGISTRY.items():
        for message, fields in getattr(cls, "param_fields", {}).items():
            if message in _CORE:
                raise TypeError(f"layer type {type_name} declares {message}, a field of LayerParameter itself")
            if message in LAYER and LAYER[message] != fields:
                raise TypeError(f"layer type {type_name} declares {message} with other fields than "
                                f"{_declared_by[message]} does")
            LAYER[message] = fields
            _declared_by.setdefault(message, type_name)


NET = {"name": S, "input": Rep(S), "input_shape": Rep(BLOB_SHAPE), "input_dim": Rep(I), "force_backward": B,
       "state": NET_STATE, "debug_info": B, "layer": Rep(LAYER), "layers": Rep("any")}
SOLVER = {
    "net": S, "net_param": NET, "train_net": S, "test_net": Rep(S), "train_net_param": NET, "test_net_param": Rep(NET),
    "train_state": NET_STATE, "test_state": Rep(NET_STATE), "test_iter": Rep(I), "test_interval": I,
    "test_compute_loss": B, "test_initialization": B, "base_lr": F, "display": I, "average_loss": I,
    "max_iter": I, "iter_size": I, "lr_policy": S, "gamma": F, "power": F, "momentum": F, "weight_decay": F,
    "regularization_type": S, "stepsize": I, "stepvalue": Rep(I), "clip_gradients": F, "snapshot": I,
    "snapshot_prefix": S, "snapshot_diff": B, "snapshot_format": E, "solver_mode": E, "device_id": I,
    "random_seed": L, "type": S, "delta": F, "momentum2": F, "rms_decay": F, "debug_info": B,
    "snapshot_after_train": B, "solver_type": E, "layer_wise_reduce": B, "weights": Rep(S),
}


def _kind_ok(kind, value):
    if kind in _INT_RANGES:
        lo, hi = _INT_RANGES[kind]
        return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi
    if kind == F:
        return (isinstance(value, (int, float)) and not isinstance(value, Ident)) or (
            isinstance(value, Ident) and value.lower().lstrip("-") in ("inf", "infinity", "nan"))
    if kind == B:
        return (isinstance(value, Ident) and value in ("true", "false", "True", "False", "t", "f")) or value in (0, 1)
    if kind == S:
        return isinstance(value, str) and not isinstance(value, Ident)
    if kind == E:
        return isinstance(value, Ident) or (isinstance(value, int) and not isinstance(value, bool))
    return True


_KIND_NAMES = {F: "a number", B: "true or false", S: "a quoted string", E: "an enum name",
               **{k: f"an integer in {t} range [{lo}, {hi}]"
                  for (k, (lo, hi)), t in zip(_INT_RANGES.items(), ("int32", "uint32", "int64"))}}


def validate(msg, schema, what):
    """Raises PrototxtError at the first field of ``msg`` that ``schema`` does not know or whose value has
    the wrong kind. ``what`` names the message in the error (e.g. "layer 'conv1' convolution_param")."""
    if schema == "any":
        return
    for name, values in msg.fields.items():
        kind = schema.get(name)
        if isinstance(kind, Rep):
            kind = kind.kind
        elif kind is not None and len(values) > 1:
            line, col = msg.where[name][1]
            raise PrototxtError(msg.filename, line, col, f"non-repeated field '{name}' in {what} is specified "
                                f"multiple times (first at line {msg.where[name][0][0]})")
        for (line, col), value in zip(msg.where[name], values):
            if kind is None:
                known = ", ".join(sorted(schema))
                raise PrototxtError(msg.filename, line, col, f"unknown field '{name}' in {what} (known: {known})")
            if isinstance(kind, dict) or kind == "any":
                if not isinstance(value, Message):
                    raise PrototxtError(msg.filename, line, col, f"field '{name}' in {what} must be a message {{ }}")
                validate(value, kind, f"{what} {name}")
            elif isinstance(value, Message) or not _kind_ok(kind, value):
                raise PrototxtError(msg.filename, line, col,
                                    f"field '{name}' in {what} expects {_KIND_NAMES[kind]}, got "
                                    f"{'a message' if isinstance(value, Message) else repr(value)}")


def validate_net(netp):
    assemble_layer_schema()
    for name in netp.fields:
        if name != "layer":
            validate(_only(netp, name), NET, "the net")
    for i, lp in enumerate(netp.all("layer")):
        if not isinstance(lp, Message):
            raise netp.error("layer", "field 'layer' must be a message { }", i)
        validate(lp, LAYER, f"layer '{lp.get('name', '?')}'")
    return netp


def validate_solver(sp):
    assemble_layer_schema()
    validate(sp, SOLVER, "the solver")
    return sp


def _only(msg, name):
    sub = Message(msg.filename, msg.line, msg.col)
    for value, (line, col) in zip(msg.fields[name], msg.where[name]):
        sub.add(name, value, line, col)
    return sub
