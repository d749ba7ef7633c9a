"""pycaffe's NetSpec: a net written in Python, given back as a caffe_pb2.NetParameter (str() of it is prototxt).

    from lrcn_native import layers as L, params as P, NetSpec
    n = NetSpec()
    n.data, n.label = L.Input(shape=[dict(dim=[64, 1, 28, 28]), dict(dim=[64])], ntop=2)
    n.conv1 = L.Convolution(n.data, kernel_size=5, num_output=20, weight_filler=dict(type="xavier"))
    n.pool1 = L.Pooling(n.conv1, kernel_size=2, stride=2, pool=P.Pooling.MAX)
    ...
    open("lenet.prototxt", "w").write(str(n.to_proto()))

``L.<Type>(*bottoms, **fields)`` is a layer of that type. Its keyword fields: ``ntop`` (number of tops,
default 1; with 0 the call returns the layer itself), ``in_place`` (the tops are the bottoms), a field of
the type's parameter message (convolution_param for Convolution; the message our layer declares, so
recurrent_param for LSTM and RNN; else pycaffe's <Type>Parameter), else a field of LayerParameter (name,
loss_weight, param=[dict(lr_mult=1)], include=dict(phase=caffe_pb2.TRAIN), *_param=dict(...)).
Dicts become sub-messages, lists repeated fields, one value given to a repeated field a one-element list.
Tops named in the NetSpec keep that name, a layer takes its first top's name, and anything unnamed is
called after its type and a count (Convolution1, ...), as pycaffe names them.
"""
from collections import Counter, OrderedDict

from .layer import REGISTRY
from .proto import caffe_pb2
from .proto.message import Message

__all__ = ["NetSpec", "Top", "Function", "layers", "params", "to_proto"]


def to_proto(*tops):
    """The NetParameter of every layer the given tops depend on, in the order they are first needed."""
    return _net(tops, {})


def _net(tops, names):
    """The NetParameter of the layers behind ``tops``; ``names`` maps the Tops that have a name to it."""
    layers, autonames = OrderedDict(), Counter()
    for top in tops:
        top._to_proto(layers, names, autonames)
    net = caffe_pb2.NetParameter()
    net.layer.extend(layers.values())
    return net


def _assign(msg, name, value):
    """Field ``name`` of ``msg`` from a Python value (dict -> sub-message, list -> repeated field)."""
    f = msg.DESCRIPTOR.fields_by_name.get(name)
    if f is None:
        raise AttributeError(f"{type(msg).__name__} has no field '{name}'")
    if f.repeated:
        container = getattr(msg, name)
        for v in (value if isinstance(value, (list, tuple)) else [value]):
            if f.kind == "message":
                _assign_message(container.add(), v)
            else:
                container.append(v)
    elif f.kind == "message":
        sub = getattr(msg, name)
        _assign_message(sub, value)
        sub.SetInParent()
    else:
        setattr(msg, name, value)


def _assign_message(msg, value):
    if isinstance(value, Message):
        msg.CopyFrom(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            _assign(msg, k, v)
    else:
        raise TypeError(f"{type(msg).__name__} is given {value!r}: a dict or a {type(msg).__name__} expected")


def _param_field(type_name):
    """The LayerParameter field holding ``type_name``'s parameters, or None."""
    declared = list(getattr(REGISTRY.get(type_name), "param_fields", {}))
    if len(declared) == 1:
        return declared[0]
    fields = caffe_pb2.LayerParameter.DESCRIPTOR.fields
    return next((f.name for f in fields if f.kind == "message" and f.name.endswith("_param")
                 and f.message_type.__name__ == type_name + "Parameter"), None)


class Top:
    """One output of a Function (a blob): pass it as a bottom to other layers, or to to_proto."""

    def __init__(self, fn, n):
        self.fn, self.n = fn, n

    def to_proto(self):
        return to_proto(self)

    def _update(self, params):
        self.fn._update(params)

    def _to_proto(self, layers, names, autonames):
        return self.fn._to_proto(layers, names, autonames)


class Function:
    """One layer: its type, bottom Tops and fields (see the module docstring)."""

    def __init__(self, type_name, inputs, params):
        self.type_name, self.inputs, self.params = type_name, inputs, dict(params)
        for i, inp in enumerate(inputs):
            if not isinstance(inp, Top):
                raise TypeError(f"L.{type_name}: bottom {i} is {inp!r}, not a top of another layer "
                                "(fields go as keyword arguments)")
        self.ntop = self.params.pop("ntop", 1)
        self.in_place = self.params.pop("in_place", False)
        if self.in_place and self.ntop != len(inputs):
            raise ValueError(f"L.{type_name}: in_place needs as many tops as bottoms ({len(inputs)}), not {self.ntop}")
        self.tops = tuple(Top(self, n) for n in range(self.ntop))

    def _update(self, params):
        self.params.update(params)

    def _top_name(self, top, names, autonames):
        if top not in names:
            autonames[top.fn.type_name] += 1
            names[top] = f"{top.fn.type_name}{autonames[top.fn.type_name]}"
        return names[top]

    def _name(self, names, autonames):
        if self not in names:
            if self.ntop > 0:
                names[self] = self._top_name(self.tops[0], names, autonames)
            else:
                autonames[self.type_name] += 1
                names[self] = f"{self.type_name}{autonames[self.type_name]}"
        return names[self]

    def _to_proto(self, layers, names, autonames):
        if self in layers:
            return
        bottoms = []
        for inp in self.inputs:
            inp._to_proto(layers, names, autonames)
            bottoms.append(layers[inp.fn].top[inp.n])
        layer = caffe_pb2.LayerParameter(type=self.type_name)
        layer.bottom.extend(bottoms)
        layer.top.extend(bottoms if self.in_place else [self._top_name(t, names, autonames) for t in self.tops])
        layer.name = self._name(names, autonames)
        param_field = _param_field(self.type_name)
        own = param_field and layer.DESCRIPTOR.fields_by_name[param_field].message_type.DESCRIPTOR.fields_by_name
        for k, v in self.params.items():
            try:
                if own and k in own:
                    _assign(getattr(layer, param_field), k, v)
                    getattr(layer, param_field).SetInParent()
                else:
                    _assign(layer, k, v)
            except (AttributeError, TypeError, ValueError) as e:
                where = f"{param_field} nor LayerParameter" if param_field else "LayerParameter"
                why = f"'{k}' is a field of neither {where}" if isinstance(e, AttributeError) else e
                raise ValueError(f"layer '{self.params.get('name', layer.name)}' ({self.type_name}): {why}") from None
        layers[self] = layer


class NetSpec:
    """Named tops: ``n.conv1 = L.Convolution(...)`` names that top (and its layer) "conv1"."""

    def __init__(self):
        super().__setattr__("tops", OrderedDict())

    def __setattr__(self, name, value):
        self.tops[name] = value

    def __getattr__(self, name):
        try:
            return self.tops[name]
        except KeyError:
            raise AttributeError(f"NetSpec has no top '{name}'") from None

    def __setitem__(self, key, value):
        self.__setattr__(key, value)

    def __getitem__(self, item):
        return self.__getattr__(item)

    def __delitem__(self, name):
        del self.tops[name]

    def keys(self):
        return list(self.tops.keys())

    def vals(self):
        return list(self.tops.values())

    def to_proto(self):
        return _net(self.tops.values(), {top: name for name, top in self.tops.items()})


class Layers:
    """``L.<Type>(*bottoms, **fields)``: a Top (ntop=1), a tuple of Tops, or the Function (ntop=0)."""

    def __getattr__(self, type_name):
        if type_name.startswith("_"):
            raise AttributeError(type_name)

        def layer_fn(*bottoms, **fields):
            fn = Function(type_name, bottoms, fields)
            return fn if fn.ntop == 0 else fn.tops[0] if fn.ntop == 1 else fn.tops
        return layer_fn


class Parameters:
    """``P.<Type>.<ENUM VALUE>``: caffe_pb2.<Type>Parameter's enum values (P.Pooling.MAX)."""

    def __getattr__(self, type_name):
        if type_name.startswith("_"):
            raise AttributeError(type_name)
        try:
            return getattr(caffe_pb2, type_name + "Parameter")
        except AttributeError:
            raise AttributeError(f"caffe_pb2 has no {type_name}Parameter") from None


layers = Layers()
params = Parameters()
