"""pycaffe scripts' ``google.protobuf.text_format``, for the caffe_pb2 messages of this package:

    from lrcn_native.proto import caffe_pb2, text_format
    net = text_format.Merge(open("deploy.prototxt").read(), caffe_pb2.NetParameter())
    open("out.prototxt", "w").write(text_format.MessageToString(net))

Reading is proto/text.py's parser (errors name the line and column); writing is protobuf's layout.
"""
from .message import from_text, to_text
from .text import PrototxtError, parse

ParseError = PrototxtError


def _parse(text, message, merge, filename):
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8")
    return from_text(message, parse(text, filename), merge)


def Merge(text, message, *, filename="<string>"):
    """Adds the fields of prototxt ``text`` to ``message`` (a repeated non-repeated field: the last wins)."""
    return _parse(text, message, True, filename)


def Parse(text, message, *, filename="<string>"):
    """``message`` cleared, then read from ``text``; a non-repeated field given twice is an error."""
    message.Clear()
    return _parse(text, message, False, filename)


def MessageToString(message):
    """Text of ``message`` as protobuf's Python text_format writes it (floats as Python's str: 1.0); str(message)
    writes numbers as protobuf's C library and Caffe's C++ do (1)."""
    return to_text(message, c_style=False)


__all__ = ["Merge", "MessageToString", "Parse", "ParseError"]
