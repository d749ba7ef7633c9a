"""The runtime of caffe_pb2's classes: proto2 messages as protobuf's Python API shows them.

A class is made from a schema dict (field -> kind, proto/schema.py) and a line of numbers (caffe_pb2.py).
Unset scalars read as their default; reading an unset sub-message gives an empty one that joins its
parent when something is written into it (protobuf's lazy presence); repeated fields are containers
(append, extend, add, len, index). Bytes are protobuf's: fields in number order, packed where caffe.proto
packs, unknown fields kept and written back last, so what protobuf writes reads back to the same bytes.
Text is protobuf's text_format (fields in number order, floats as the shortest decimal that gives the same
float32). Binary reading and writing reuse proto/wire.py; text reading reuses proto/text.py.
"""
import math
import numbers
import struct

import numpy as np

from . import schema, wire
from .text import Ident, _to_bool, _to_float, _to_int, _to_str
from .text import Message as TextMessage

_KINDS = {schema.I: "int32", schema.U: "uint32", schema.L: "int64", schema.F: "float", schema.B: "bool",
          schema.S: "string", schema.E: "enum", "double": "double", "bytes": "bytes"}
_RANGES = {"int32": (-2**31, 2**31 - 1), "uint32": (0, 2**32 - 1), "int64": (-2**63, 2**63 - 1)}
_WIRE = {"float": wire.FIXED32, "double": wire.FIXED64, "string": wire.LEN, "bytes": wire.LEN, "message": wire.LEN}
_ZERO = {"float": 0.0, "double": 0.0, "bool": False, "string": "", "bytes": b""}


class DecodeError(ValueError):
    """Bytes that are not the message (protobuf's google.protobuf.message.DecodeError)."""


class EnumType:
    """A proto enum: ``Phase.Name(0) == "TRAIN"``, ``Phase.Value("TEST") == 1``, ``Phase.TRAIN == 0``."""

    def __init__(self, name, spec):
        self.name, self._values, n = name, {}, 0
        for token in spec.split():  # "A B C" or "A=1 B=2"
            label, _, number = token.partition("=")
            n = int(number) if number else n
            self._values[label] = n
            n += 1
        self._names = {v: k for k, v in reversed(self._values.items())}

    def Name(self, number):
        try:
            return self._names[number]
        except (KeyError, TypeError):
            raise ValueError(f"enum {self.name} has no value {number!r}") from None

    def Value(self, name):
        try:
            return self._values[name]
        except (KeyError, TypeError):
            known = ", ".join(self._values)
            raise ValueError(f"enum {self.name} has no value named {name!r} (known: {known})") from None

    def keys(self):
        return list(self._values)

    def values(self):
        return list(self._values.values())

    def items(self):
        return list(self._values.items())

    def __getattr__(self, name):
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(f"enum {self.name} has no value {name}") from None

    def __repr__(self):
        return f"<enum {self.name}: {', '.join(f'{k}={v}' for k, v in self._values.items())}>"


class FieldDescriptor:
    """One field: name, number, kind (int32 uint32 int64 float double bool string bytes enum message),
    repeated, default, packed, enum (an EnumType), message_type (a class)."""

    __slots__ = ("name", "number", "kind", "repeated", "default", "packed", "enum", "message_type", "full_name", "key")

    def __repr__(self):
        return f"<field {self.full_name} = {self.number}>"


class Descriptor:
    """The part of protobuf's Descriptor that scripts read: name, full_name, fields, fields_by_name,
    fields_by_number, enum_types_by_name."""

    def __init__(self, name, fields, enums):
        self.name, self.full_name = name, "caffe." + name
        self.fields = sorted(fields, key=lambda f: f.number)
        self.fields_by_name = {f.name: f for f in self.fields}
        self.fields_by_number = {f.number: f for f in self.fields}
        self.enum_types_by_name = enums


def _f32(v):
    with np.errstate(over="ignore"):  # beyond float32's range becomes inf, as protobuf stores it
        return float(np.float32(v))


def _check(f, v):
    """``v`` as field ``f`` stores it; TypeError or ValueError (naming the field) when it cannot be."""
    kind = f.kind
    if kind in _RANGES or kind == "enum":
        if kind == "enum" and isinstance(v, str):
            return f.enum.Value(v)
        if isinstance(v, (float, np.floating)) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{f.full_name}: {v!r} has type {type(v).__name__}, but expected an int")
        v = int(v)
        if kind == "enum":
            f.enum.Name(v)  # a proto2 enum is closed: an unknown value is an error
        elif not _RANGES[kind][0] <= v <= _RANGES[kind][1]:
            raise ValueError(f"{f.full_name}: value {v} out of {kind} range")
        return v
    if kind in ("float", "double"):
        if isinstance(v, (str, bytes)) or not isinstance(v, numbers.Real):
            raise TypeError(f"{f.full_name}: {v!r} has type {type(v).__name__}, but expected a number")
        return _f32(v) if kind == "float" else float(v)
    if kind == "bool":
        if not isinstance(v, (numbers.Integral, np.bool_)):
            raise TypeError(f"{f.full_name}: {v!r} has type {type(v).__name__}, but expected a bool")
        return bool(v)
    if kind == "string":
        if isinstance(v, bytes):
            try:
                return v.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"{f.full_name}: {v!r} is not UTF-8") from None
        if not isinstance(v, str):
            raise TypeError(f"{f.full_name}: {v!r} has type {type(v).__name__}, but expected str")
        return str(v)
    if kind == "bytes":
        if isinstance(v, str):
            return v.encode("utf-8")
        if not isinstance(v, (bytes, bytearray, memoryview)):
            raise TypeError(f"{f.full_name}: {v!r} has type {type(v).__name__}, but expected bytes")
        return bytes(v)
    raise AssertionError(kind)


def _check_many(f, values):
    """A list of checked values; numbers in an array are converted at once (a blob's data)."""
    if f.kind in ("float", "double") and isinstance(values, (np.ndarray, np.flatiter)):
        arr = np.asarray(values)
        if arr.dtype.kind in "biuf":
            dtype = np.float32 if f.kind == "float" else np.float64
            with np.errstate(over="ignore"):
                return arr.reshape(-1).astype(dtype).tolist()
    return [_check(f, v) for v in values]


class Message:
    """Base of every caffe_pb2 class (see the module docstring for the semantics)."""

    __slots__ = ("_values", "_lazy", "_owner", "_unknown")
    DESCRIPTOR = None

    def __init__(self, **fields):
        object.__setattr__(self, "_values", {})
        object.__setattr__(self, "_lazy", {})
        object.__setattr__(self, "_owner", None)  # (parent, field name) while an unset sub-message
        object.__setattr__(self, "_unknown", [])  # raw bytes of fields this schema does not know
        for name, value in fields.items():
            f = self._field(name, ValueError)
            if f.repeated and f.kind == "message":  # messages or dicts of their fields, as protobuf takes
                for v in value:
                    getattr(self, name).append(v if isinstance(v, Message) else f.message_type(**v))
            elif f.repeated:
                getattr(self, name).extend(value)
            elif f.kind == "message":
                sub = getattr(self, name)
                sub.MergeFrom(value if isinstance(value, Message) else f.message_type(**value))
                sub._mark()
            else:
                setattr(self, name, value)

    def _field(self, name, error=AttributeError):
        f = self.DESCRIPTOR.fields_by_name.get(name)
        if f is None:
            raise error(f"{type(self).__name__} has no field '{name}'")
        return f

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        f = self._field(name)
        if name in self._values:
            return self._values[name]
        if f.repeated:
            container = self._values[name] = (RepeatedMessages if f.kind == "message" else RepeatedScalars)(self, f)
            return container
        if f.kind == "message":
            sub = self._lazy.get(name)
            if sub is None:
                sub = self._lazy[name] = f.message_type()
                object.__setattr__(sub, "_owner", (self, name))
            return sub
        return f.default

    def __setattr__(self, name, value):
        f = self._field(name)
        if f.repeated or f.kind == "message":
            how = "append(), extend() or add()" if f.repeated else "CopyFrom() or set its fields"
            raise AttributeError(f"assignment not allowed to {'repeated ' if f.repeated else ''}field '{name}' of "
                                 f"{type(self).__name__}: use {how}")
        self._values[name] = _check(f, value)
        self._mark()

    def _mark(self):
        """Makes this message present in its parent (and the parent in its own), once written into."""
        if self._owner is not None:
            parent, name = self._owner
            object.__setattr__(self, "_owner", None)
            if parent._lazy.get(name) is self:  # else the parent was cleared since: this one is detached
                del parent._lazy[name]
                parent._values[name] = self
                parent._mark()

    # --- protobuf's Message API -----------------------------------------------------------------
    def HasField(self, name):
        if self._field(name, ValueError).repeated:
            raise ValueError(f"HasField: '{name}' of {type(self).__name__} is repeated (use len())")
        return name in self._values

    def ClearField(self, name):
        self._field(name, ValueError)
        self._values.pop(name, None)
        self._lazy.pop(name, None)

    def Clear(self):
        self._values.clear()
        self._lazy.clear()
        self._unknown.clear()

    def SetInParent(self):
        self._mark()

    def IsInitialized(self):
        return True  # no message of ours has required fields

    def ListFields(self):
        """[(FieldDescriptor, value)] of the set fields (non-empty repeated ones) in field-number order."""
        out = []
        for f in self.DESCRIPTOR.fields:
            v = self._values.get(f.name)
            if v is not None and (not f.repeated or len(v)):
                out.append((f, v))
        return out

    def MergeFrom(self, other):
        if type(other) is not type(self):
            raise TypeError(f"MergeFrom: expected {type(self).__name__}, got {type(other).__name__}")
        for f, v in other.ListFields():
            if f.repeated:
                getattr(self, f.name).extend(v)
            elif f.kind == "message":
                sub = getattr(self, f.name)
                sub.MergeFrom(v)
                sub._mark()
            else:
                self._values[f.name] = v
        self._unknown.extend(other._unknown)
        self._mark()

    def CopyFrom(self, other):
        if other is not self:
            self.Clear()
            self.MergeFrom(other)

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return ([(f.name, v) for f, v in self.ListFields()] == [(f.name, v) for f, v in other.ListFields()]
                and self._unknown == other._unknown)

    __hash__ = None  # mutable, as protobuf's messages

    def SerializeToString(self):
        return _encode(self)

    def ByteSize(self):
        return len(_encode(self))

    def MergeFromString(self, data):
        buf = memoryview(data).cast("B")
        try:
            _decode(self, buf, 0, len(buf))
        except ValueError as e:
            raise DecodeError(f"error parsing {type(self).__name__}: {e}") from None
        self._mark()
        return len(buf)

    def ParseFromString(self, data):
        self.Clear()
        return self.MergeFromString(data)

    @classmethod
    def FromString(cls, data):
        msg = cls()
        msg.MergeFromString(data)
        return msg

    def __str__(self):
        return to_text(self)

    __repr__ = __str__  # as protobuf's

    def __reduce__(self):
        return type(self).FromString, (self.SerializeToString(),)

    def __deepcopy__(self, memo=None):
        copy = type(self)()
        copy.MergeFrom(self)
        return copy


class _Repeated:
    __slots__ = ("_msg", "_field", "_list")

    def __init__(self, msg, field):
        self._msg, self._field, self._list = msg, field, []

    def __len__(self):
        return len(self._list)

    def __iter__(self):
        return iter(self._list)

    def __getitem__(self, i):
        return self._list[i]

    def __delitem__(self, i):
        del self._list[i]

    def __contains__(self, v):
        return v in self._list

    def __eq__(self, other):
        if isinstance(other, _Repeated):
            return self._list == other._list
        return isinstance(other, (list, tuple)) and self._list == list(other)

    __hash__ = None

    def __repr__(self):
        return repr(self._list)

    def index(self, v, *args):
        return self._list.index(v, *args)

    def count(self, v):
        return self._list.count(v)

    def pop(self, i=-1):
        return self._list.pop(i)

    def remove(self, v):
        self._list.remove(v)


class RepeatedScalars(_Repeated):
    """A repeated int, float, bool, string or enum field: a list that checks what goes in."""
    __slots__ = ()

    def append(self, v):
        self._list.append(_check(self._field, v))
        self._msg._mark()

    def extend(self, values):
        new = _check_many(self._field, values)
        if new:
            self._list.extend(new)
            self._msg._mark()

    def insert(self, i, v):
        self._list.insert(i, _check(self._field, v))
        self._msg._mark()

    def __setitem__(self, i, v):
        self._list[i] = _check_many(self._field, v) if isinstance(i, slice) else _check(self._field, v)

    def sort(self, **kwargs):
        self._list.sort(**kwargs)


class RepeatedMessages(_Repeated):
    """A repeated message field: add(**fields) makes a new element; append and extend copy messages."""
    __slots__ = ()

    def add(self, **fields):
        msg = self._field.message_type(**fields)
        self._list.append(msg)
        self._msg._mark()
        return msg

    def append(self, msg):
        self.add().CopyFrom(msg)

    def extend(self, msgs):
        for msg in msgs:
            self.append(msg)


# ---------------------------------------------------------------------------------------------------
# Building the classes

def _default(f, text):
    if text is None:
        return f.enum.items()[0][1] if f.kind == "enum" else _ZERO.get(f.kind, 0)
    if f.kind == "enum":
        return f.enum.Value(text)
    if f.kind == "bool":
        return text == "true"
    if f.kind == "string":
        return text
    return _check(f, float(text) if f.kind in ("float", "double") else int(text))


def build_classes(named, ids, numbers, enums, top_enums, unnumbered):
    """The message classes of ``named`` (message name -> schema dict); ``ids`` names the schema dicts
    nested in others (id(dict) -> message name); ``numbers`` and ``enums`` as caffe_pb2's NUMBERS, ENUMS;
    ``top_enums`` the file-level EnumTypes by name. Schema fields without a number are appended to
    ``unnumbered`` as "Message.field"."""
    classes = {name: type(name, (Message,), {"__slots__": ()}) for name in named}
    for name, fields in named.items():
        cls = classes[name]
        own_enums = {n: EnumType(n, spec) for n, spec in enums.get(name, {}).items()}
        lines = {}
        for entry in numbers.get(name, "").split(","):
            words = entry.split()
            if words:
                lines[words[0]] = words[1:]
        descs = []
        for field, kind in fields.items():
            words = lines.get(field)
            if words is None:
                unnumbered.append(f"{name}.{field}")
                continue
            f = FieldDescriptor()
            f.name, f.number, f.full_name = field, int(words[0]), f"caffe.{name}.{field}"
            f.repeated = isinstance(kind, schema.Rep)
            kind = kind.kind if f.repeated else kind
            f.packed, f.enum, f.message_type, default = "packed" in words, None, None, None
            if isinstance(kind, dict):  # the schema dict of a message named in ``named`` (by identity, or equal)
                sub = ids.get(id(kind)) or next((n for n, d in named.items() if d == kind), None)
                if sub is None:
                    unnumbered.append(f"{name}.{field} (a message caffe_pb2 does not name)")
                    continue
                f.kind, f.message_type = "message", classes[sub]
            elif kind in classes:
                f.kind, f.message_type = "message", classes[kind]
            else:
                f.kind = _KINDS[next((w for w in words if w in ("double", "bytes")), kind)]
            for w in words[1:]:
                if w.startswith(":"):
                    f.enum = own_enums.get(w[1:]) or top_enums[w[1:]]
                elif w.startswith("="):
                    default = w[1:]
            if f.kind == "enum" and f.enum is None:
                unnumbered.append(f"{name}.{field} (no enum type)")
                continue
            f.default = _default(f, default)
            f.key = wire.key(f.number, wire.LEN if f.packed else _WIRE.get(f.kind, wire.VARINT))
            descs.append(f)
        cls.DESCRIPTOR = Descriptor(name, descs, own_enums)
        for enum in own_enums.values():  # PoolingParameter.PoolMethod and PoolingParameter.MAX
            setattr(cls, enum.name, enum)
            for label, number in enum.items():
                setattr(cls, label, number)
    return classes


# ---------------------------------------------------------------------------------------------------
# Bytes

def _scalar_bytes(f, v):
    kind = f.kind
    if kind == "float":
        return struct.pack("<f", v)
    if kind == "double":
        return struct.pack("<d", v)
    if kind in ("string", "bytes", "message"):
        payload = v.encode("utf-8") if kind == "string" else v if kind == "bytes" else _encode(v)
        return wire.encode_varint(len(payload)) + payload
    return wire.encode_varint(int(v))


def _encode(msg):
    out = []
    for f, v in msg.ListFields():
        if not f.repeated:
            out += [f.key, _scalar_bytes(f, v)]
        elif f.packed:
            if f.kind in ("float", "double"):
                payload = np.asarray(v._list, "<f4" if f.kind == "float" else "<f8").tobytes()
            else:
                payload = b"".join(wire.encode_varint(int(x)) for x in v)
            out += [f.key, wire.encode_varint(len(payload)), payload]
        else:
            for x in v:
                out += [f.key, _scalar_bytes(f, x)]
    return b"".join(out + msg._unknown)


def _int(f, raw):
    if f.kind == "uint32":
        return raw & 0xFFFFFFFF
    if f.kind == "bool":
        return raw != 0
    v = wire.signed64(raw)
    return v if f.kind == "int64" else (v + 2**31) % 2**32 - 2**31  # int32 and enums: the low 32 bits


def _value(f, buf, wt, v):
    if f.kind == "float":
        return struct.unpack("<f", v.to_bytes(4, "little"))[0]
    if f.kind == "double":
        return struct.unpack("<d", v.to_bytes(8, "little"))[0]
    if f.kind == "bytes":
        return bytes(buf[v])
    if f.kind == "string":
        try:
            return bytes(buf[v]).decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"field '{f.name}' at byte {v.start} is not UTF-8") from None
    return _int(f, v)


def _decode(msg, buf, start, end):
    by_number = msg.DESCRIPTOR.fields_by_number
    it = wire.Fields(buf, start, end)
    for number, wt, v in it:
        f = by_number.get(number)
        native = None if f is None else _WIRE.get(f.kind, wire.VARINT)
        packed = f is not None and f.repeated and wt == wire.LEN and native != wire.LEN
        if f is None or not (wt == native or packed):  # protobuf keeps a mismatched field as unknown
            msg._unknown.append(bytes(buf[it.start:it.pos]))
            continue
        if f.kind == "message":
            sub = getattr(msg, f.name).add() if f.repeated else getattr(msg, f.name)
            _decode(sub, buf, v.start, v.stop)
            sub._mark()
        elif not f.repeated:
            value = _value(f, buf, wt, v)
            if f.kind == "enum" and value not in f.enum._names:
                msg._unknown.append(bytes(buf[it.start:it.pos]))  # a closed enum's unknown value
                continue
            msg._values[f.name] = value
        else:
            getattr(msg, f.name)._list.extend(_values(f, buf, wt, v, it))


def _values(f, buf, wt, v, it):
    """The values of one occurrence of repeated scalar field f: packed (LEN) or a run of unpacked ones."""
    if f.kind in ("float", "double"):
        dtype = "<f4" if f.kind == "float" else "<f8"
        if wt == wire.LEN:
            return wire.packed_array(buf, v, dtype, f"field '{f.name}'").tolist()
        run, it.pos = wire.fixed_run(buf, it.start, it.end, dtype)
        return run.tolist()
    if wt != wire.LEN or f.kind in ("string", "bytes"):
        return [_value(f, buf, wt, v)]
    out, pos = [], v.start
    while pos < v.stop:
        raw, pos = wire.read_varint(buf, pos, v.stop)
        out.append(_int(f, raw))
    return out


# ---------------------------------------------------------------------------------------------------
# Text

_SYMBOLS = {9: r"\t", 10: r"\n", 13: r"\r", 34: r"\"", 39: r"\'", 92: r"\\"}


def _escape(value):
    """protobuf's text escapes: C escapes for tab, newline, return, quotes and backslash, three octal digits
    for other control characters; a string keeps its other characters, bytes outside ASCII are escaped."""
    codes, limit = (value, 256) if isinstance(value, bytes) else (map(ord, value), 128)
    return "".join(_SYMBOLS.get(c) or (f"\\{c:03o}" if c < 32 or 127 <= c < limit else chr(c)) for c in codes)


def _float_text(v, kind, c_style):
    """A float as protobuf writes it: str() of a message (upb, and Caffe's C++) as %g with the fewest of
    6 or 9 digits (15 or 17 for doubles) that read back the same value; text_format.MessageToString as
    Python's str() of the shortest such value (so 1.0, not 1)."""
    if math.isnan(v) or math.isinf(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    same = (lambda t: _f32(float(t)) == v) if kind == "float" else (lambda t: float(t) == v)
    if c_style:
        short = f"{v:.{6 if kind == 'float' else 15}g}"
        return short if same(short) else f"{v:.{9 if kind == 'float' else 17}g}"
    if kind == "double":
        return str(v)
    digits = 6
    while not same(f"{v:.{digits}g}"):
        digits += 1
    return str(float(f"{v:.{digits}g}"))


def _text_value(f, v, c_style):
    if f.kind == "enum":
        return f.enum._names.get(v, str(v))
    if f.kind == "bool":
        return "true" if v else "false"
    if f.kind in ("string", "bytes"):
        return '"' + _escape(v) + '"'
    if f.kind in ("float", "double"):
        return _float_text(v, f.kind, c_style)
    return str(v)


def to_text(msg, indent=0, c_style=True):
    """Text format: one field a line, sub-messages indented by two; numbers as str(msg) writes them
    (c_style) or as text_format.MessageToString does (see _float_text)."""
    pad, out = " " * indent, []
    for f, v in msg.ListFields():
        for x in (v if f.repeated else [v]):
            if f.kind == "message":
                out.append(f"{pad}{f.name} {{\n{to_text(x, indent + 2, c_style)}{pad}}}\n")
            else:
                out.append(f"{pad}{f.name}: {_text_value(f, x, c_style)}\n")
    return "".join(out)


def _from_text_value(f, v):
    if f.kind in _RANGES:
        return _to_int(v)
    if f.kind in ("float", "double"):
        return _to_float(v)
    if f.kind == "bool":
        return _to_bool(v)
    if f.kind == "enum":
        if isinstance(v, Ident):
            return f.enum.Value(str(v))
        return _to_int(v)
    s = _to_str(v)  # text.py unescapes \ooo to one character per byte: those bytes are UTF-8
    try:
        raw = s.encode("latin-1")
    except UnicodeEncodeError:
        raw = s.encode("utf-8")
    if f.kind == "bytes":
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return s


def from_text(msg, tm, merge=True):
    """Writes the parsed text message ``tm`` (proto/text.py) into ``msg``. With merge=False a
    non-repeated field given twice is an error (protobuf's Parse); errors name file, line and column."""
    for name, values in tm.fields.items():
        f = msg.DESCRIPTOR.fields_by_name.get(name)
        if f is None:
            hint = (" (caffe_pb2 holds the parameter messages of the layer types lrcn_native implements)"
                    if name.endswith("_param") else "")
            raise tm.error(name, f"unknown field '{name}' in {type(msg).__name__}{hint} "
                                 f"(known: {', '.join(sorted(msg.DESCRIPTOR.fields_by_name))})")
        if not merge and not f.repeated and len(values) > 1:
            raise tm.error(name, f"non-repeated field '{name}' of {type(msg).__name__} is given "
                                 f"{len(values)} times", 1)
        for i, v in enumerate(values):
            if f.kind == "message":
                if not isinstance(v, TextMessage):
                    raise tm.error(name, f"field '{name}' of {type(msg).__name__} must be a message {{ }}", i)
                sub = getattr(msg, name).add() if f.repeated else getattr(msg, name)
                from_text(sub, v, merge)
                sub._mark()
                continue
            try:
                if isinstance(v, TextMessage):
                    raise ValueError("a message { } where a value is expected")
                value = _check(f, _from_text_value(f, v))
            except (TypeError, ValueError) as e:
                detail = e if str(e) else f"{v!r} is not a valid {f.kind}"
                raise tm.error(name, f"field '{name}' of {type(msg).__name__}: {detail}", i) from None
            if f.repeated:
                getattr(msg, name).append(value)
            else:
                msg._values[name] = value
                msg._mark()
    return msg


def to_text_message(msg, filename="<message>"):
    """The proto/text.py Message of a caffe_pb2 message, as parse() gives it (for Net and the solvers)."""
    tm = TextMessage(filename)
    for f, v in msg.ListFields():
        for x in (v if f.repeated else [v]):
            if f.kind == "message":
                x = to_text_message(x, filename)
            elif f.kind == "enum" and x in f.enum._names:
                x = Ident(f.enum._names[x])
            elif f.kind == "bool":
                x = Ident("true" if x else "false")
            elif f.kind == "bytes":
                x = x.decode("latin-1")
            tm.add(f.name, x)
    return tm


__all__ = ["DecodeError", "EnumType", "Message", "build_classes", "from_text", "to_text", "to_text_message"]
