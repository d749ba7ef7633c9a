"""Protocol-buffer wire format: just enough to read and write Caffe's binary files without protobuf.

A message is a sequence of fields, each a varint key (field_number << 3 | wire_type) and a value:
VARINT (0) a base-128 varint, FIXED64 (1) 8 little-endian bytes, LEN (2) a varint length and that many
bytes (strings, sub-messages, packed repeated scalars), FIXED32 (5) 4 little-endian bytes. Groups (3, 4)
are not used by Caffe and are rejected. Everything works on any buffer (bytes, memoryview, mmap) by
offset: a LEN value is given as a ``slice`` of the buffer, so large payloads are never copied here.
Malformed input raises ValueError naming the byte offset; every step consumes at least one byte,
so no input can make a loop spin.
"""
import numpy as np

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5
MASK64 = (1 << 64) - 1
MAX_FIELD = (1 << 29) - 1


def read_varint(buf, pos, end):
    """Decode the varint at buf[pos] (not reading at or past end) -> (unsigned 64-bit value, next pos)."""
    start, result, shift = pos, 0, 0
    while True:
        if pos >= end:
            raise ValueError(f"truncated varint at byte {start}")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & MASK64, pos  # a 10th byte may carry bits above 64: dropped, as protobuf does
        shift += 7
        if shift >= 70:
            raise ValueError(f"varint longer than 10 bytes at byte {start}")


def signed64(v):
    """The two's-complement int64 (and so also int32: protobuf sign-extends them) of a decoded varint."""
    return v - (1 << 64) if v >> 63 else v


class Fields:
    """Iterator over the fields of the message in buf[start:end] -> (field_number, wire_type, value).

    value is an int for VARINT, FIXED64 and FIXED32 (the raw unsigned bits) and a slice(a, b) of buf for
    LEN. ``start`` is the offset of the current field's key; ``pos`` (settable, to skip ahead) is where
    the next field begins.
    """

    def __init__(self, buf, start=0, end=None):
        self.buf, self.start, self.pos = buf, start, start
        self.end = len(buf) if end is None else end

    def __iter__(self):
        return self

    def __next__(self):
        buf, end = self.buf, self.end
        if self.pos >= end:
            raise StopIteration
        self.start = self.pos
        key, pos = read_varint(buf, self.pos, end)
        field, wire_type = key >> 3, key & 7
        if not 0 < field <= MAX_FIELD:
            raise ValueError(f"invalid field number {field} at byte {self.start}")
        if wire_type == VARINT:
            value, pos = read_varint(buf, pos, end)
        elif wire_type in (FIXED64, FIXED32):
            n = 8 if wire_type == FIXED64 else 4
            if end - pos < n:
                raise ValueError(f"field {field}: {n}-byte value at byte {pos} runs past the end (byte {end})")
            value = int.from_bytes(buf[pos:pos + n], "little")
            pos += n
        elif wire_type == LEN:
            n, pos = read_varint(buf, pos, end)
            if n > end - pos:
                raise ValueError(f"field {field}: length {n} at byte {self.start} runs past the end (byte {end})")
            value = slice(pos, pos + n)
            pos += n
        else:
            raise ValueError(f"field {field}: unsupported wire type {wire_type} at byte {self.start}")
        self.pos = pos
        return field, wire_type, value


def packed_array(buf, s, dtype, what="field"):
    """Zero-copy view of the packed little-endian fixed-size scalars in buf[s] (dtype '<f4', '<f8', ...)."""
    dtype = np.dtype(dtype)
    n = s.stop - s.start
    if n % dtype.itemsize:
        raise ValueError(f"{what}: packed payload of {n} bytes at byte {s.start} "
                         f"is not a multiple of {dtype.itemsize}")
    return np.frombuffer(buf, dtype, n // dtype.itemsize, s.start)


def fixed_run(buf, pos, end, dtype):
    """The run of consecutive unpacked fields with the key found at buf[pos], each a fixed-size value
    of dtype ('<f4' after a FIXED32 key, '<f8' after FIXED64) -> (strided zero-copy view, next pos).

    Unpacked repeated floats are one 5-byte field per value; walking 60 M of them in Python would take
    minutes, so the records are viewed as a numpy structured array and the run length found at once.
    """
    dtype = np.dtype(dtype)
    _, after_key = read_varint(buf, pos, end)
    key = bytes(buf[pos:after_key])
    rec = np.dtype([("key", np.uint8, (len(key),)), ("value", dtype)])
    n = (end - pos) // rec.itemsize
    if n == 0:
        raise ValueError(f"{dtype.itemsize}-byte value at byte {after_key} runs past the end (byte {end})")
    recs = np.frombuffer(buf, rec, n, pos)
    same = (recs["key"] == np.frombuffer(key, np.uint8)).all(axis=1)
    k = n if same.all() else int(same.argmin())  # same[0] is True: the key was read from there
    return recs["value"][:k], pos + k * rec.itemsize


def encode_varint(v):
    """Varint bytes of an int; negative values as 64-bit two's complement (10 bytes), like protobuf."""
    v &= MASK64
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def key(field, wire_type):
    return encode_varint(field << 3 | wire_type)


def varint_field(field, v):
    return key(field, VARINT) + encode_varint(v)


def len_header(field, n):
    """Key and length of a LEN field whose n payload bytes the caller writes next."""
    return key(field, LEN) + encode_varint(n)


def len_field(field, payload):
    return len_header(field, len(payload)) + bytes(payload)


def string_field(field, s):
    return len_field(field, s.encode("utf-8"))


def packed_varints(field, values):
    return len_field(field, b"".join(encode_varint(int(v)) for v in values))
