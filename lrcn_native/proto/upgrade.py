"""Caffe's upgrade of old prototxt files (the facts of its upgrade_proto.cpp; our code), and prototxt text out.

V1 nets (Caffe before 2015) list ``layers { type: CONVOLUTION blobs_lr: 1 weight_decay: 1 ... }``; V2 nets
list ``layer { type: "Convolution" param { lr_mult: 1 decay_mult: 1 } ... }``. The layer's own ``*_param``
messages, bottoms, tops, rules and loss weights carry over unchanged. Old solvers name their type with the
``solver_type`` enum instead of the ``type`` string (solver.solver_type reads both).
"""
import math

from .text import Ident, Message

# V1LayerParameter.LayerType -> the V2 type string (UpgradeV1LayerType).
V1_TYPES = {
    "ABSVAL": "AbsVal", "ACCURACY": "Accuracy", "ARGMAX": "ArgMax", "BNLL": "BNLL", "CONCAT": "Concat",
    "CONTRASTIVE_LOSS": "ContrastiveLoss", "CONVOLUTION": "Convolution", "DECONVOLUTION": "Deconvolution",
    "DATA": "Data", "DROPOUT": "Dropout", "DUMMY_DATA": "DummyData", "EUCLIDEAN_LOSS": "EuclideanLoss",
    "ELTWISE": "Eltwise", "EXP": "Exp", "FLATTEN": "Flatten", "HDF5_DATA": "HDF5Data",
    "HDF5_OUTPUT": "HDF5Output", "HINGE_LOSS": "HingeLoss", "IM2COL": "Im2col", "IMAGE_DATA": "ImageData",
    "INFOGAIN_LOSS": "InfogainLoss", "INNER_PRODUCT": "InnerProduct", "LRN": "LRN", "MEMORY_DATA": "MemoryData",
    "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss", "MVN": "MVN", "POOLING": "Pooling", "POWER": "Power",
    "RELU": "ReLU", "SIGMOID": "Sigmoid", "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss",
    "SILENCE": "Silence", "SOFTMAX": "Softmax", "SOFTMAX_LOSS": "SoftmaxWithLoss", "SPLIT": "Split",
    "SLICE": "Slice", "TANH": "TanH", "WINDOW_DATA": "WindowData", "THRESHOLD": "Threshold"}

# V1LayerParameter fields that V2's LayerParameter has under the same name and meaning.
_V1_SAME = {"bottom", "top", "name", "include", "exclude", "blobs", "loss_weight", "accuracy_param",
            "argmax_param", "concat_param", "contrastive_loss_param", "convolution_param", "data_param",
            "dropout_param", "dummy_data_param", "eltwise_param", "exp_param", "hdf5_data_param",
            "hdf5_output_param", "hinge_loss_param", "image_data_param", "infogain_loss_param",
            "inner_product_param", "lrn_param", "memory_data_param", "mvn_param", "pooling_param", "power_param",
            "relu_param", "sigmoid_param", "softmax_param", "slice_param", "tanh_param", "threshold_param",
            "window_data_param", "transform_param", "loss_param"}
# V1 per-parameter lists -> the field of the i-th V2 `param { }` they become.
_V1_PARAM_SPEC = {"param": "name", "blob_share_mode": "share_mode", "blobs_lr": "lr_mult", "weight_decay": "decay_mult"}

# V1 data layers whose image-transform fields Caffe's UpgradeNetDataTransformation moves to transform_param
_V1_DATA_PARAMS = {"DATA": "data_param", "IMAGE_DATA": "image_data_param", "WINDOW_DATA": "window_data_param"}
_V1_TRANSFORM_FIELDS = ("scale", "mean_file", "crop_size", "mirror")


def _moved_transform(layer, v1_type):
    """UpgradeNetDataTransformation on one upgraded layer: a V1 DATA / IMAGE_DATA / WINDOW_DATA layer's
    scale, mean_file, crop_size and mirror leave its data parameter for transform_param (replacing a value
    given there). Both messages are copied: the parsed V1 net is left as it was."""
    name = _V1_DATA_PARAMS.get(v1_type)
    if name not in layer or not any(f in layer.get(name) for f in _V1_TRANSFORM_FIELDS):
        return
    old = layer.get(name)
    param, transform = Message(old.filename, old.line, old.col), Message(old.filename, old.line, old.col)
    given = layer.msg("transform_param")
    for field, values in given.fields.items():
        if not (field in _V1_TRANSFORM_FIELDS and field in old):
            transform.fields[field], transform.where[field] = list(values), list(given.where[field])
    for field, values in old.fields.items():
        target = transform if field in _V1_TRANSFORM_FIELDS else param
        target.fields[field], target.where[field] = list(values), list(old.where[field])
    for field, msg in ((name, param), ("transform_param", transform)):
        layer.fields[field], layer.where[field] = [msg], layer.where.get(field, [(old.line, old.col)])[-1:]


def _v1_layer(v1):
    """One V1 `layers { }` message -> the V2 `layer { }` message (UpgradeV1LayerParameter)."""
    layer = Message(v1.filename, v1.line, v1.col)
    specs = []
    for name, values in v1.fields.items():
        where = v1.where[name]
        if name == "type":
            kind = values[-1]
            if not isinstance(kind, Ident) or kind not in V1_TYPES:
                raise v1.error("type", f"V1 layer type {kind!r} is not one of Caffe's V1 LayerType names "
                                       f"({', '.join(sorted(V1_TYPES))})")
            layer.add("type", V1_TYPES[kind], *where[-1])
        elif name in _V1_PARAM_SPEC:
            for i, (value, at) in enumerate(zip(values, where)):
                while len(specs) <= i:
                    specs.append(Message(v1.filename, *at))
                specs[i].add(_V1_PARAM_SPEC[name], value, *at)
        elif name in _V1_SAME:
            for value, at in zip(values, where):
                layer.add(name, value, *at)
        elif name == "layer":
            raise v1.error(name, "a V0 layer inside a V1 'layers' block: Caffe's V0 format is not supported")
        else:
            raise v1.error(name, f"field '{name}' is not a field of a V1 layer (V1LayerParameter)")
    for spec in specs:
        layer.add("param", spec, spec.line, spec.col)
    _moved_transform(layer, v1.get("type"))
    return layer


def upgrade_net(netp):
    """The V2 form of a net (the same Message when it is V2 already)."""
    if "layers" not in netp:
        return netp
    if "layer" in netp:
        raise netp.error("layers", "the net mixes V1 'layers' and V2 'layer' blocks: use one format")
    upgraded = Message(netp.filename, netp.line, netp.col)
    for name, values in netp.fields.items():
        if name == "layers":
            for v1, at in zip(netp.msgs("layers"), netp.where[name]):
                upgraded.add("layer", _v1_layer(v1), *at)
        else:
            upgraded.fields[name], upgraded.where[name] = list(values), list(netp.where[name])
    return upgraded


def upgrade_solver(sp):
    """The solver with the old `solver_type` enum replaced by the `type` string (the same Message if none)."""
    from ..solver import solver_type
    if "solver_type" not in sp:
        return sp
    kind = solver_type(sp)  # checks the enum value, and that `type` is not set too
    upgraded = Message(sp.filename, sp.line, sp.col)
    for name, values in sp.fields.items():
        key = "type" if name == "solver_type" else name
        upgraded.fields[key] = [kind] if name == "solver_type" else list(values)
        upgraded.where[key] = list(sp.where[name])
    return upgraded


def _value(v):
    if isinstance(v, Ident):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return repr(v)


def to_text(msg, indent=0):
    """Prototxt text of a Message, fields in the order parsed (repeated values grouped by field)."""
    pad, lines = "  " * indent, []
    for name, values in msg.fields.items():
        for v in values:
            if isinstance(v, Message):
                lines += [f"{pad}{name} {{", to_text(v, indent + 1), f"{pad}}}"] if v.fields else [f"{pad}{name} {{}}"]
            else:
                lines.append(f"{pad}{name}: {_value(v)}")
    return "\n".join(line for line in lines if line)

