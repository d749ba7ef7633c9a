"""Caffe weight files without protobuf (lrcn_native/proto/wire.py, caffemodel.py).

Checked against three independent sources: Caffe's own files in tests/golden (written by Net::ToProto /
ToHDF5, values in golden.h5), the protobuf library decoding and re-encoding our bytes through a
descriptor built here from caffe.proto's field numbers (skipped without protobuf), and round trips.
Weights are data movement, so every comparison is bit-exact (tobytes), never a tolerance.
"""
import glob
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrcn_native.proto import caffemodel as cm
from lrcn_native.proto import wire

GOLDEN = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "golden", "*", "")))
CONV_BYTES = Path(__file__).with_name("golden").joinpath("conv", "weights.caffemodel").read_bytes()


def protobuf_messages():
    """Message classes for the parts of caffe.proto we read, built at run time (no .proto compile).
    BVLC field numbers and types; V1 layer type as int32 (an enum is the same varint on the wire)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    F = descriptor_pb2.FieldDescriptorProto
    OPT, REP = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    fdp = descriptor_pb2.FileDescriptorProto(name="caffe_min.proto", package="caffe_min", syntax="proto2")
    messages = {
        "BlobShape": [("dim", 1, F.TYPE_INT64, REP, True)],
        "BlobProto": [("num", 1, F.TYPE_INT32, OPT), ("channels", 2, F.TYPE_INT32, OPT),
                      ("height", 3, F.TYPE_INT32, OPT), ("width", 4, F.TYPE_INT32, OPT),
                      ("data", 5, F.TYPE_FLOAT, REP, True), ("diff", 6, F.TYPE_FLOAT, REP, True),
                      ("shape", 7, "BlobShape", OPT), ("double_data", 8, F.TYPE_DOUBLE, REP, True),
                      ("double_diff", 9, F.TYPE_DOUBLE, REP, True)],
        "LayerParameter": [("name", 1, F.TYPE_STRING, OPT), ("type", 2, F.TYPE_STRING, OPT),
                           ("bottom", 3, F.TYPE_STRING, REP), ("top", 4, F.TYPE_STRING, REP),
                           ("blobs", 7, "BlobProto", REP)],
        "V1LayerParameter": [("bottom", 2, F.TYPE_STRING, REP), ("top", 3, F.TYPE_STRING, REP),
                             ("name", 4, F.TYPE_STRING, OPT), ("type", 5, F.TYPE_INT32, OPT),
                             ("blobs", 6, "BlobProto", REP), ("blobs_lr", 7, F.TYPE_FLOAT, REP)],
        "NetParameter": [("name", 1, F.TYPE_STRING, OPT), ("layers", 2, "V1LayerParameter", REP),
                         ("input", 3, F.TYPE_STRING, REP), ("input_dim", 4, F.TYPE_INT32, REP),
                         ("input_shape", 8, "BlobShape", REP), ("layer", 100, "LayerParameter", REP)],
        "SolverState": [("iter", 1, F.TYPE_INT32, OPT), ("learned_net", 2, F.TYPE_STRING, OPT),
                        ("history", 3, "BlobProto", REP), ("current_step", 4, F.TYPE_INT32, OPT)],
        "Datum": [("channels", 1, F.TYPE_INT32, OPT), ("height", 2, F.TYPE_INT32, OPT), ("width", 3, F.TYPE_INT32, OPT),
                  ("data", 4, F.TYPE_BYTES, OPT), ("label", 5, F.TYPE_INT32, OPT), ("float_data", 6, F.TYPE_FLOAT, REP),
                  ("encoded", 7, F.TYPE_BOOL, OPT)],
    }
    for name, fields in messages.items():
        m = fdp.message_type.add(name=name)
        for fname, number, ftype, label, *packed in fields:
            f = m.field.add(name=fname, number=number, label=label)
            if isinstance(ftype, str):
                f.type, f.type_name = F.TYPE_MESSAGE, f".caffe_min.{ftype}"
            else:
                f.type = ftype
            if packed:
                f.options.packed = True
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"caffe_min.{name}"))
            for name in messages}


try:
    PB = protobuf_messages()
except ImportError:
    PB = None
needs_protobuf = pytest.mark.skipif(PB is None, reason="protobuf not installed (pip install protobuf)")


def special_floats(rng, shape):
    """Random float32 with the values a sloppy reader mangles: -0, inf, NaN with a payload, denormals."""
    a = rng.standard_normal(shape).astype(np.float32).reshape(-1)
    specials = np.array([-0.0, np.inf, -np.inf, 1e-45, -3e-39, 3.4e38], np.float32)
    specials = np.concatenate([specials, np.array([0x7FC12345], np.uint32).view(np.float32)])
    a[:min(a.size, specials.size)] = specials[:a.size]
    return a.reshape(shape)


def random_layers(seed):
    rng = np.random.default_rng(seed)
    shapes = [[(6, 2, 3, 3), (6,)], [], [(5, 18), (5,)], [()], [(0,)], [(2, 3, 1, 2, 2)], [(24, 4), (24,), (24, 6)]]
    return [cm.LayerWeights(f"layer{i}-é", ["Convolution", "ReLU", "InnerProduct", "Scale", "Odd", "X", "LSTM"][i],
                            [special_floats(rng, s) for s in blob_shapes])
            for i, blob_shapes in enumerate(shapes)]


def assert_same_layers(got, want, types=True):
    assert [layer.name for layer in got] == [layer.name for layer in want]
    if types:
        assert [layer.type for layer in got] == [layer.type for layer in want]
    for g, w in zip(got, want):
        assert len(g.blobs) == len(w.blobs), g.name
        for a, b in zip(g.blobs, w.blobs):
            assert a.dtype == np.float32 and a.shape == np.shape(b), g.name
            assert a.tobytes() == np.asarray(b, np.float32).tobytes(), g.name  # bit-exact, NaN payloads too


def top_level_fields(data):
    """[(field, start, end)] of the top-level fields of a message."""
    it, out = wire.Fields(data), []
    for f, _, _ in it:
        out.append((f, it.start, it.pos))
    return out


# ---------------------------------------------------------------------------------------------------
# wire.py

@pytest.mark.parametrize("v", [0, 1, 127, 128, 300, 2**31 - 1, 2**32, 2**63 - 1, -1, -2**31, -2**63])
def test_varint_round_trip(v):
    b = wire.encode_varint(v)
    assert len(b) == (10 if v < 0 else max(1, (v.bit_length() + 6) // 7))  # negatives: 10 bytes, as protobuf
    value, pos = wire.read_varint(b, 0, len(b))
    assert pos == len(b) and wire.signed64(value) == v


@pytest.mark.parametrize("data, message", [
    (b"\x08\x80", "truncated varint at byte 1"),
    (b"\x08" + b"\xff" * 10 + b"\x01", "varint longer than 10 bytes at byte 1"),
    (b"\x0a\x05abc", "length 5 at byte 0 runs past the end"),
    (b"\x08\x01\x0b", "unsupported wire type 3 at byte 2"),
    (b"\x0e", "unsupported wire type 6 at byte 0"),
    (b"\x00\x01", "invalid field number 0 at byte 0"),
    (b"\x08\x01\x2d\x00\x00", "4-byte value at byte 3 runs past the end"),
    (b"\x09\x00", "8-byte value at byte 1 runs past the end"),
])
def test_wire_errors_name_the_offset(data, message):
    with pytest.raises(ValueError, match=message):
        list(wire.Fields(data))


def test_fields_on_memoryview_give_slices():
    data = wire.varint_field(1, 150) + wire.string_field(2, "abc") + wire.key(3, wire.FIXED32) + b"\x00\x00\x80\x3f"
    fields = list(wire.Fields(memoryview(data)))
    assert fields[0] == (1, wire.VARINT, 150)
    assert fields[1][:2] == (2, wire.LEN) and bytes(data[fields[1][2]]) == b"abc"
    assert fields[2] == (3, wire.FIXED32, 0x3F800000)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_fields_on_random_bytes_end_or_raise_value_error(data):
    try:
        for _ in wire.Fields(data):
            pass
    except ValueError:
        pass


# ---------------------------------------------------------------------------------------------------
# Round trips

def test_caffemodel_round_trip(tmp_path):
    layers = random_layers(0)
    path = tmp_path / "net.caffemodel"
    cm.write_caffemodel(path, "roundtrip", layers)
    for source in (path, path.read_bytes(), str(path)):
        wf = cm.read_caffemodel(source)
        assert wf.format == "V2" and wf.name == "roundtrip" and wf.input == [] and wf.input_dim == []
        assert_same_layers(wf.layers, layers)
        assert all(not any(layer.legacy) for layer in wf.layers)
        assert all(b.ctypes.data % 64 == 0 for layer in wf.layers for b in layer.blobs if b.size)
    assert os.listdir(tmp_path) == ["net.caffemodel"]  # the temporary file was renamed


def test_hdf5_round_trip(tmp_path):
    layers = random_layers(1)
    path = tmp_path / "net.caffemodel.h5"
    cm.write_hdf5_weights(path, layers)
    with h5py.File(path, "r") as f:
        assert len(f["data"][layers[1].name]) == 0  # a group even for a layer without blobs (as Caffe)
        assert f["data"][layers[0].name]["0"].dtype == np.float32
    wf = cm.read_hdf5_weights(path)
    assert wf.format == "HDF5"
    assert_same_layers(wf.layers, layers, types=False)  # our writer records creation order
    order = [layers[3].name, "not-in-file", layers[0].name]
    assert [layer.name for layer in cm.read_hdf5_weights(path, order).layers] == \
        [layers[3].name, layers[0].name] + [layer.name for layer in layers if layer.name not in order]
    with pytest.raises(ValueError, match="cannot be HDF5 groups"):
        cm.write_hdf5_weights(tmp_path / "bad.h5", [("a/b", "", [])])


def test_load_weights_chooses_by_content(tmp_path):
    layers = [cm.LayerWeights("ip", "InnerProduct", [np.ones((2, 3), np.float32), np.zeros(2, np.float32)])]
    cm.write_hdf5_weights(tmp_path / "looks.caffemodel", layers)
    cm.write_caffemodel(tmp_path / "looks.h5", "n", layers)
    assert cm.load_weights(tmp_path / "looks.caffemodel").format == "HDF5"
    wf = cm.load_weights(tmp_path / "looks.h5")
    assert wf.format == "V2"
    assert_same_layers(wf.layers, layers)
    assert wf["ip"] is wf.layers[0] and "ip" in wf and "nope" not in wf


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "w.caffemodel"
    cm.write_caffemodel(path, "old", [])
    before = path.read_bytes()
    with pytest.raises(ValueError):
        cm.write_caffemodel(path, "new", [("a", "b", [np.array(["not a number"])])])
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["w.caffemodel"]


# ---------------------------------------------------------------------------------------------------
# Caffe's own files

@pytest.mark.parametrize("folder", GOLDEN, ids=lambda d: os.path.basename(os.path.dirname(d)))
def test_golden_weights_match_golden_params(folder):
    with h5py.File(os.path.join(folder, "golden.h5"), "r") as g:
        names = [n.decode() for n in g["layer_names"][()]]
        types = [n.decode() for n in g["layer_types"][()]]
        param = g.get("param", {})
        want = [cm.LayerWeights(n, t, [param[n][str(i)][()] for i in range(len(param[n]))] if n in param else [])
                for n, t in zip(names, types)]
    wf = cm.read_caffemodel(os.path.join(folder, "weights.caffemodel"))
    assert wf.format == "V2" and wf.name == os.path.basename(os.path.dirname(folder))
    assert_same_layers(wf.layers, want)  # every layer, Split layers included, in Caffe's order
    h5 = os.path.join(folder, "weights.caffemodel.h5")
    assert_same_layers(cm.read_hdf5_weights(h5, names).layers, want, types=False)
    assert [layer.name for layer in cm.read_hdf5_weights(h5).layers] == sorted(names)  # Caffe kept no order
    assert cm.load_weights(h5).format == "HDF5"


@pytest.mark.parametrize("folder", [d for d in GOLDEN if os.path.basename(os.path.dirname(d)) in ("conv", "lstm", "innerproduct")],
                         ids=lambda d: os.path.basename(os.path.dirname(d)))
def test_our_blob_bytes_equal_caffes(folder):
    """Each BlobProto our writer makes is byte-identical to the one Caffe's Blob::ToProto wrote."""
    data = Path(folder, "weights.caffemodel").read_bytes()
    wf = cm.read_caffemodel(data)
    raw = []
    for f, _, s in wire.Fields(data):
        if f == 100:
            raw.append([bytes(data[b]) for g, _, b in wire.Fields(data, s.start, s.stop) if g == 7])
    assert sum(map(len, raw)) > 0
    for layer, blobs in zip(wf.layers, raw):
        assert [cm.array_to_blobproto(b) for b in layer.blobs] == blobs


# ---------------------------------------------------------------------------------------------------
# A V1 file (as bvlc_reference_caffenet.caffemodel): `layers`, enum types, legacy 4-D dims, net inputs

def legacy_blob(dims, values, how):
    """BlobProto with num/channels/height/width; values packed or one field each, float or double."""
    out = b"".join(wire.varint_field(f, d) for f, d in zip((1, 2, 3, 4), dims))
    field, dtype, wt = (8, "<f8", wire.FIXED64) if "double" in how else (5, "<f4", wire.FIXED32)
    raw = np.asarray(values, dtype)
    if "unpacked" in how:
        out += b"".join(wire.key(field, wt) + v.tobytes() for v in raw)
    else:
        out += wire.len_field(field, raw.tobytes())
    return out


def v1_layer(name, type_enum, blobs):
    body = wire.string_field(2, "bottom") + wire.string_field(3, "top") + wire.string_field(4, name)
    body += wire.varint_field(5, type_enum)
    body += b"".join(wire.len_field(6, b) for b in blobs)
    body += b"".join(wire.key(7, wire.FIXED32) + np.float32(lr).tobytes() for lr in (1, 2))  # blobs_lr
    return wire.len_field(2, body)


def v1_file():
    rng = np.random.default_rng(7)
    conv_w, conv_b = rng.standard_normal((4, 3, 5, 5)), rng.standard_normal(4)
    fc_w, fc_b = rng.standard_normal((8, 12)), rng.standard_normal(8)
    data = wire.string_field(1, "CaffeNet") + wire.string_field(3, "data")
    data += b"".join(wire.varint_field(4, d) for d in (10, 3, 227, 227))
    data += v1_layer("conv1", 4, [legacy_blob((4, 3, 5, 5), conv_w, "packed"),
                                  legacy_blob((1, 1, 1, 4), conv_b, "unpacked")])
    data += v1_layer("relu1", 18, [])
    data += v1_layer("fc6", 14, [legacy_blob((1, 1, 8, 12), fc_w, "packed double"),
                                 legacy_blob((1, 1, 1, 8), fc_b, "unpacked double")])
    data += v1_layer("loss", 21, []) + v1_layer("future", 99, [])
    want = [("conv1", "Convolution", [conv_w, conv_b.reshape(1, 1, 1, 4)]), ("relu1", "ReLU", []),
            ("fc6", "InnerProduct", [fc_w.reshape(1, 1, 8, 12), fc_b.reshape(1, 1, 1, 8)]),
            ("loss", "SoftmaxWithLoss", []), ("future", "", [])]  # an unknown enum reads as NONE
    return data, [cm.LayerWeights(n, t, [np.asarray(b, np.float32) for b in bl]) for n, t, bl in want]


V1_BYTES = v1_file()[0]


def test_v1_file_with_legacy_dims(tmp_path):
    data, want = v1_file()
    (tmp_path / "v1.caffemodel").write_bytes(data)
    wf = cm.load_weights(tmp_path / "v1.caffemodel")
    assert wf.format == "V1" and wf.name == "CaffeNet"
    assert wf.input == ["data"] and wf.input_dim == [10, 3, 227, 227] and wf.input_shape == []
    assert_same_layers(wf.layers, want)  # doubles rounded to float32 like Caffe's FromProto
    assert wf["conv1"].legacy == [True, True] and wf["relu1"].legacy == []
    fc6 = wf["fc6"]
    assert fc6.fit(0, (8, 12)).shape == (8, 12) and fc6.fit(1, (8,)).shape == (8,)
    assert fc6.fit(0, (1, 8, 12)).shape == (1, 8, 12)
    with pytest.raises(ValueError, match="layer 'fc6' blob 0: shape .* does not fit"):
        fc6.fit(0, (12, 8))
    with pytest.raises(ValueError, match="does not fit"):  # a shape blob must match exactly
        cm.LayerWeights("ip", "InnerProduct", [np.zeros((1, 8), np.float32)]).fit(0, (8,))


@needs_protobuf
def test_v1_file_agrees_with_protobuf():
    data = V1_BYTES
    net = PB["NetParameter"].FromString(data)
    wf = cm.read_caffemodel(data)
    assert list(net.input_dim) == wf.input_dim and [layer.name for layer in net.layers] == [l.name for l in wf.layers]
    for pl, layer in zip(net.layers, wf.layers):
        assert cm.V1_LAYER_TYPES.get(pl.type, "") == layer.type
        for pb, arr in zip(pl.blobs, layer.blobs):
            assert (pb.num, pb.channels, pb.height, pb.width) == arr.shape
            values = np.array(pb.double_data or pb.data, np.float64).astype(np.float32)
            assert values.tobytes() == arr.tobytes()


def test_packed_and_unpacked_chunks_concatenate_in_order():
    values = np.arange(100_003, dtype=np.float32)
    blob = wire.len_field(5, values[:3].tobytes())
    blob += b"".join(wire.key(5, wire.FIXED32) + v.tobytes() for v in values[3:100_000])
    blob += wire.len_field(5, values[100_000:].tobytes()) + wire.len_field(7, wire.packed_varints(1, [100_003]))
    assert cm.blobproto_to_array(blob).tobytes() == values.tobytes()


# ---------------------------------------------------------------------------------------------------
# Malformed files

def test_both_layer_kinds_and_v0_layers_are_rejected():
    v2 = wire.len_field(100, wire.string_field(1, "a"))
    with pytest.raises(ValueError, match="both V1 'layers'"):
        cm.read_caffemodel(v1_layer("b", 4, []) + v2)
    with pytest.raises(ValueError, match="V0 layer"):
        cm.read_caffemodel(wire.len_field(2, wire.len_field(1, wire.string_field(1, "conv1"))))


def test_count_mismatch_names_file_layer_and_blob(tmp_path):
    good = cm.array_to_blobproto(np.ones(3, np.float32))
    bad = wire.len_field(5, np.ones(5, np.float32).tobytes()) + wire.len_field(7, wire.packed_varints(1, [2, 3]))
    layer = wire.string_field(1, "fc8") + wire.len_field(7, good) + wire.len_field(7, bad)
    path = tmp_path / "bad.caffemodel"
    path.write_bytes(wire.len_field(100, wire.string_field(1, "ok")) + wire.len_field(100, layer))
    with pytest.raises(ValueError, match=r"bad.caffemodel: not a Caffe \.caffemodel \(binary NetParameter\): "
                                        r"layer 1 'fc8': blob 1: 5 data values for shape \(2, 3\)"):
        cm.read_caffemodel(path)


@pytest.mark.parametrize("kind", ["V2", "V1"])
def test_every_cut_point_raises_or_reads_a_prefix(kind, tmp_path):
    """A cut at a top-level field boundary is a valid, shorter NetParameter (protobuf has no end marker);
    anywhere else the reader must raise ValueError naming the file."""
    if kind == "V2":
        path = tmp_path / "full.caffemodel"
        cm.write_caffemodel(path, "net", random_layers(2))
        data = path.read_bytes()
    else:
        data = V1_BYTES
    full = cm.read_caffemodel(data).layers
    ends = {end: sum(f in (2, 100) for f, _, e in top_level_fields(data) if e <= end)
            for _, _, end in top_level_fields(data)}
    for cut in range(len(data)):
        if cut in ends or cut == 0:
            assert_same_layers(cm.read_caffemodel(data[:cut]).layers, full[:ends.get(cut, 0)])
        else:
            with pytest.raises(ValueError, match="<bytes>: "):
                cm.read_caffemodel(data[:cut])
    cut_file = tmp_path / "cut.caffemodel"
    cut_file.write_bytes(data[:len(data) // 2 + 1])
    with pytest.raises(ValueError, match="cut.caffemodel: "):
        cm.read_caffemodel(cut_file)


def _raises_only_value_error(read, data):
    try:
        read(data)
    except ValueError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_value_error(data):
    _raises_only_value_error(cm.read_caffemodel, data)
    _raises_only_value_error(cm.blobproto_to_array, data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_corrupted_files_raise_only_value_error(draw):
    data = bytearray(V1_BYTES if draw.draw(st.booleans()) else CONV_BYTES)
    for _ in range(draw.draw(st.integers(1, 4))):
        data[draw.draw(st.integers(0, len(data) - 1))] = draw.draw(st.integers(0, 255))
    _raises_only_value_error(cm.read_caffemodel, bytes(data))



def test_damaged_hdf5_raises_value_error(tmp_path):
    path = tmp_path / "w.caffemodel.h5"
    cm.write_hdf5_weights(path, [("ip", "", [np.ones((64, 64), np.float32)])])
    cut = tmp_path / "cut.caffemodel.h5"
    cut.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ValueError, match="cut.caffemodel.h5"):
        cm.load_weights(cut)
    with h5py.File(tmp_path / "odd.h5", "w") as f:
        f.create_dataset("data/ip/1", data=np.ones(2))
    with pytest.raises(ValueError, match="not datasets named 0..0"):
        cm.read_hdf5_weights(tmp_path / "odd.h5")
    with h5py.File(tmp_path / "nodata.h5", "w") as f:
        f.create_group("diff")
    with pytest.raises(ValueError, match="no /data group"):
        cm.load_weights(tmp_path / "nodata.h5")


# ---------------------------------------------------------------------------------------------------
# protobuf as an independent decoder

@needs_protobuf
def test_protobuf_reads_our_caffemodel_and_writes_the_same_bytes(tmp_path):
    layers = random_layers(3)
    path = tmp_path / "net.caffemodel"
    cm.write_caffemodel(path, "pb", layers)
    data = path.read_bytes()
    net = PB["NetParameter"].FromString(data)
    assert net.name == "pb" and len(net.layers) == 0
    for pl, layer in zip(net.layer, layers, strict=True):
        assert (pl.name, pl.type, len(pl.blobs)) == (layer.name, layer.type, len(layer.blobs))
        for pb, arr in zip(pl.blobs, layer.blobs):
            assert tuple(pb.shape.dim) == arr.shape and not pb.HasField("num")
            assert np.array(pb.data, np.float32).tobytes() == arr.tobytes()
    assert net.SerializeToString() == data  # canonical field order: byte-identical


# ---------------------------------------------------------------------------------------------------
# Solver state and BlobProto

@pytest.mark.parametrize("hdf5", [False, True])
def test_solverstate_round_trip(tmp_path, hdf5):
    rng = np.random.default_rng(4)
    state = {"iter": 30000, "learned_net": "snap/lrcn_iter_30000.caffemodel", "current_step": 3,
             "history": [special_floats(rng, (16, 3, 5, 5)), special_floats(rng, (16,)), np.zeros((0,), np.float32)]}
    path = tmp_path / "lrcn_iter_30000.solverstate"
    cm.write_solverstate(path, state, hdf5=hdf5)
    got = cm.read_solverstate(path)
    assert {k: got[k] for k in ("iter", "learned_net", "current_step")} == \
        {k: state[k] for k in ("iter", "learned_net", "current_step")}
    assert_same_layers([cm.LayerWeights("h", "", got["history"])], [cm.LayerWeights("h", "", state["history"])])
    assert (path.read_bytes()[:8] == cm.HDF5_SIGNATURE) == hdf5
    if hdf5:  # Caffe's layout: scalar int datasets, a NUL-terminated string, group history
        with h5py.File(path, "r") as f:
            assert f["iter"].shape == () and f["iter"].dtype == np.int32
            assert f["learned_net"].dtype.itemsize == len(state["learned_net"]) + 1
            assert list(f["history"]) == ["0", "1", "2"]
    elif PB is not None:
        pb = PB["SolverState"].FromString(path.read_bytes())
        assert (pb.iter, pb.learned_net, pb.current_step, len(pb.history)) == (30000, state["learned_net"], 3, 3)
        assert pb.SerializeToString() == path.read_bytes()


def test_blobproto_round_trip_and_legacy_shape(tmp_path):
    rng = np.random.default_rng(5)
    arr, diff = special_floats(rng, (3, 4, 5)), special_floats(rng, (3, 4, 5))
    blob = cm.array_to_blobproto(arr, diff)
    assert cm.blobproto_to_array(blob).tobytes() == arr.tobytes()
    assert cm.blobproto_to_array(blob, return_diff=True).tobytes() == diff.tobytes()
    with pytest.raises(ValueError, match="0 diff values"):
        cm.blobproto_to_array(cm.array_to_blobproto(arr), return_diff=True)
    with pytest.raises(ValueError, match="diff has 2 values"):
        cm.array_to_blobproto(arr, np.ones(2))
    mean = np.arange(3 * 256 * 256, dtype=np.float32)  # a mean.binaryproto: legacy 1x3x256x256
    (tmp_path / "mean.binaryproto").write_bytes(legacy_blob((1, 3, 256, 256), mean, "packed"))
    got = cm.read_blobproto_file(tmp_path / "mean.binaryproto")
    assert got.shape == (1, 3, 256, 256) and got.tobytes() == mean.tobytes()
    if PB is not None:  # what pycaffe's array_to_blobproto builds, serialized
        pb = PB["BlobProto"]()
        pb.shape.dim.extend(arr.shape)
        pb.data.extend(arr.astype(float).flat)
        pb.diff.extend(diff.astype(float).flat)
        assert pb.SerializeToString() == blob


def test_hdf5_dataset_larger_than_its_file_is_refused_before_allocating(tmp_path):
    """A damaged (or never written) .caffemodel.h5 can declare any shape; 4 GB must not be allocated to
    find that out (ASan's allocator aborted on such a fuzzed file)."""
    path = tmp_path / "w.caffemodel.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("data/fc/0", shape=(10 ** 9,), dtype="f4")   # storage allocated late: a small file
    assert path.stat().st_size < 10 ** 6
    with pytest.raises(ValueError, match=r"w.caffemodel.h5: /data/fc/0: a \(1000000000,\) dataset needs 4000000000 bytes"):
        cm.read_hdf5_weights(path)
