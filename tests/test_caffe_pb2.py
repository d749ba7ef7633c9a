"""caffe_pb2's messages and text_format against protobuf itself (an oracle built in the test from the same
field table), against Caffe's own bytes (the golden .caffemodel files real Caffe wrote) and against the facts
of caffe.proto (numbers and defaults spot-checked here independently of the table)."""
import glob
import os
import pickle

import numpy as np
import pytest

import lrcn_native as caffe
from lrcn_native.proto import caffe_pb2 as pb
from lrcn_native.proto import caffemodel, text_format
from lrcn_native.proto.message import DecodeError
from lrcn_native.proto.text import PrototxtError

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN_MODELS = sorted(glob.glob(os.path.join(HERE, "golden", "*", "weights.caffemodel")))

NET_TEXT = r'''
name: "t\303\251st \"net\""
input: "data"
input_shape { dim: 2 dim: 3 dim: -1 }
force_backward: true
state { phase: TRAIN level: -3 stage: "a" }
layer {
  name: "conv" type: "Convolution" bottom: "data" top: "conv"
  loss_weight: 0.1 loss_weight: 1e-8
  param { lr_mult: 1 decay_mult: 0.3333333 } param { lr_mult: 2 share_mode: PERMISSIVE }
  include { phase: TEST min_level: -2 stage: "x" not_stage: "y" }
  propagate_down: false propagate_down: true
  convolution_param { num_output: 4294967295 bias_term: false kernel_size: 3 kernel_size: 5 pad: 0
                      weight_filler { type: "gaussian" std: 0.01 variance_norm: AVERAGE } engine: CUDNN axis: -1 }
  blobs { shape { dim: 2 } data: 1.5 data: -inf diff: 3 double_data: 0.1 }
}
layer { name: "pool" type: "Pooling" pooling_param { pool: AVE stride: 2 round_mode: FLOOR } phase: TEST }
layer { name: "l" type: "LSTM" recurrent_param { num_output: 7 expose_hidden: true } }
layer { name: "r" type: "Reduction" reduction_param { operation: MEAN coeff: 3.4028235e+38 } }
layer { name: "t" type: "ImageData" transform_param { mirror: true mean_value: 104 flow: true }
        image_data_param { source: "list.txt" min_height: 256 } }
'''
SOLVER_TEXT = '''
net: "train.prototxt" test_iter: 10 test_iter: 20 test_interval: 500 base_lr: 0.01 lr_policy: "step"
gamma: 0.1 stepsize: 100000 momentum: 0.9 weight_decay: 0.0005 max_iter: 110000 snapshot_prefix: "snap"
solver_mode: CPU random_seed: -5 type: "Adam" stepvalue: 3 test_state { stage: "s" }
train_net_param { name: "inline" layer { name: "x" type: "Silence" } }
'''
OTHER_TEXTS = {
    "BlobProto": "num: 1 channels: 2 height: 1 width: 1 data: 0.5 data: 2 double_diff: 1e300",
    "Datum": r'channels: 1 height: 1 width: 3 data: "\001\377\000" label: -2 float_data: 0.25 encoded: true',
    "SolverState": 'iter: 7 learned_net: "a.caffemodel" history { data: 1 } current_step: 2',
    "BlobProtoVector": "blobs { data: 1 } blobs { shape { dim: 0 } }",
    "V1LayerParameter": 'name: "fc" type: INNER_PRODUCT blobs_lr: 1 blobs_lr: 2 param: "w" blob_share_mode: STRICT '
                        'inner_product_param { num_output: 10 }',
}


@pytest.fixture(scope="module")
def real():
    """protobuf's own message classes for a FileDescriptorProto made from caffe_pb2's field table."""
    pytest.importorskip("google.protobuf", reason="protobuf (the test extra) is the oracle")
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    F = descriptor_pb2.FieldDescriptorProto
    types = {"int32": F.TYPE_INT32, "uint32": F.TYPE_UINT32, "int64": F.TYPE_INT64, "float": F.TYPE_FLOAT,
             "double": F.TYPE_DOUBLE, "bool": F.TYPE_BOOL, "string": F.TYPE_STRING, "bytes": F.TYPE_BYTES,
             "enum": F.TYPE_ENUM, "message": F.TYPE_MESSAGE}
    fdp = descriptor_pb2.FileDescriptorProto(name="caffe_oracle.proto", package="caffe", syntax="proto2")
    phase = fdp.enum_type.add(name="Phase")
    for label, number in pb.Phase.items():
        phase.value.add(name=label, number=number)
    classes = list(pb.MESSAGES.values())
    for cls in classes:
        d = cls.DESCRIPTOR
        m = fdp.message_type.add(name=d.name)
        for enum in d.enum_types_by_name.values():
            e = m.enum_type.add(name=enum.name)
            for label, number in enum.items():
                e.value.add(name=label, number=number)
        for f in d.fields:
            fd = m.field.add(name=f.name, number=f.number, type=types[f.kind],
                             label=F.LABEL_REPEATED if f.repeated else F.LABEL_OPTIONAL)
            if f.kind == "message":
                fd.type_name = ".caffe." + f.message_type.__name__
            elif f.kind == "enum":
                own = d.enum_types_by_name.get(f.enum.name) is f.enum
                fd.type_name = ".caffe." + (d.name + "." if own else "") + f.enum.name
            if f.packed:
                fd.options.packed = True
            if not f.repeated and f.kind != "message" and f.default != type(f.default)():
                fd.default_value = (f.enum.Name(f.default) if f.kind == "enum" else "true" if f.kind == "bool"
                                    else repr(f.default) if f.kind in ("float", "double") else str(f.default))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {cls.__name__: message_factory.GetMessageClass(pool.FindMessageTypeByName("caffe." + cls.__name__))
            for cls in classes}


def _both(real, name, text):
    from google.protobuf import text_format as gtext
    return text_format.Merge(text, getattr(pb, name)()), gtext.Merge(text, real[name]())


@pytest.mark.parametrize("name,text", [("NetParameter", NET_TEXT), ("SolverParameter", SOLVER_TEXT),
                                       *OTHER_TEXTS.items()])
def test_bytes_text_and_defaults_match_protobuf(real, name, text):
    from google.protobuf import text_format as gtext
    ours, theirs = _both(real, name, text)
    data = theirs.SerializeToString()
    assert ours.SerializeToString() == data
    assert text_format.MessageToString(ours) == gtext.MessageToString(theirs)
    assert str(ours) == str(theirs)
    assert getattr(pb, name).FromString(data) == ours
    # what we write protobuf reads back to the same message (and text)
    assert real[name].FromString(ours.SerializeToString()) == theirs
    assert text_format.Merge(str(ours), getattr(pb, name)()) == ours


def test_defaults_and_presence_match_protobuf(real):
    for name, cls in real.items():
        ours, theirs = getattr(pb, name)(), cls()
        for f in ours.DESCRIPTOR.fields:
            if not f.repeated and f.kind != "message":
                assert getattr(ours, f.name) == getattr(theirs, f.name), f"{name}.{f.name}"
    # reading an unset sub-message does not set it; writing into it (or a repeated field in it) does
    ours, theirs = pb.LayerParameter(), real["LayerParameter"]()
    for m in (ours, theirs):
        assert m.convolution_param.weight_filler.std == 1 and not m.HasField("convolution_param")
    ours.pooling_param.kernel_size = theirs.pooling_param.kernel_size = 3
    ours.inner_product_param.weight_filler.type = theirs.inner_product_param.weight_filler.type = "xavier"
    ours.input_param.shape.add().dim.append(4)
    theirs.input_param.shape.add().dim.append(4)
    assert ours.SerializeToString() == theirs.SerializeToString()
    assert not ours.HasField("convolution_param") and ours.HasField("pooling_param")


def test_floats_are_float32_and_numbers_and_strings_print_as_protobuf(real):
    ours, theirs = pb.SolverParameter(), real["SolverParameter"]()
    from google.protobuf import text_format as gtext
    for value in (0.1, 1 / 3, 1e-8, 3.4e38, 1e39, -0.0, 16777217.0, 1.0, 100.0, 2.5e-45, 123456789.0, float("nan")):
        ours.base_lr = theirs.base_lr = value
        ours.ClearField("delta")
        assert str(ours.base_lr) == str(theirs.base_lr)  # (nan != nan)
        assert ours.SerializeToString() == theirs.SerializeToString()
        assert str(ours) == str(theirs) and text_format.MessageToString(ours) == gtext.MessageToString(theirs)
    blob, real_blob = pb.BlobProto(), real["BlobProto"]()
    for m in (blob, real_blob):
        m.double_data.extend([0.1, 1 / 3, 1e300, 1.0, 2.0**-1074, 1e15, float("-inf")])
    assert str(blob) == str(real_blob) and text_format.MessageToString(blob) == gtext.MessageToString(real_blob)
    for m in (ours, theirs):
        m.snapshot_prefix = "a\x01b\t\xe9\"'\\\x7f"
    assert str(ours) == str(theirs) and text_format.MessageToString(ours) == gtext.MessageToString(theirs)


def test_caffe_written_caffemodels_round_trip_byte_for_byte():
    assert GOLDEN_MODELS, "tests/golden holds the .caffemodel files real Caffe wrote"
    for path in GOLDEN_MODELS:
        with open(path, "rb") as f:
            data = f.read()
        net = pb.NetParameter.FromString(data)
        assert net.SerializeToString() == data, path
        weights = caffemodel.read_caffemodel(path)
        assert [(l.name, l.type, len(l.blobs)) for l in net.layer] == \
               [(l.name, l.type, len(l.blobs)) for l in weights.layers]
        for layer, ours in zip(net.layer, weights.layers):
            for blob, arr in zip(layer.blobs, ours.blobs):
                np.testing.assert_array_equal(caffe.io.blobproto_to_array(blob), arr)


def test_our_caffemodel_writer_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    layers = [("ip", "InnerProduct", [rng.standard_normal((3, 4)).astype(np.float32), np.zeros(3, np.float32)]),
              ("relu", "ReLU", []), ("scalar", "Scale", [np.float32(2.0)])]
    caffemodel.write_caffemodel(tmp_path / "m.caffemodel", "n", layers)
    data = (tmp_path / "m.caffemodel").read_bytes()
    net = pb.NetParameter()
    net.ParseFromString(data)
    assert net.name == "n" and [l.name for l in net.layer] == ["ip", "relu", "scalar"]
    assert list(net.layer[0].blobs[0].shape.dim) == [3, 4] and not net.layer[2].blobs[0].HasField("shape")
    np.testing.assert_array_equal(caffe.io.blobproto_to_array(net.layer[0].blobs[0]), layers[0][2][0])
    assert net.SerializeToString() == data
    # and a NetParameter built here is read by our weight reader
    built = pb.NetParameter(name="b")
    built.layer.add(name="fc", type="InnerProduct").blobs.append(caffe.io.array_to_blobproto(layers[0][2][0]))
    read = caffemodel.read_caffemodel(built.SerializeToString())
    np.testing.assert_array_equal(read["fc"].blobs[0], layers[0][2][0])


def test_facts_of_caffe_proto():
    """Numbers, defaults and enum values as BVLC caffe.proto states them (a few, by hand)."""
    net = pb.NetParameter()
    net.layer.add(name="a")
    assert net.SerializeToString() == b"\xa2\x06\x03\x0a\x01a"  # layer = 100 (LEN), name = 1
    assert pb.LayerParameter(recurrent_param={"num_output": 1}).SerializeToString() == b"\x92\x09\x02\x08\x01"  # 146
    assert pb.BlobShape(dim=[1, 2]).SerializeToString() == b"\x0a\x02\x01\x02"  # packed
    assert pb.LayerParameter(loss_weight=[1]).SerializeToString() == b"\x2d\x00\x00\x80\x3f"  # not packed
    assert (pb.TRAIN, pb.TEST, pb.PoolingParameter.MAX, pb.PoolingParameter.STOCHASTIC) == (0, 1, 0, 2)
    assert (pb.SolverParameter.GPU, pb.EltwiseParameter.SUM, pb.ReductionParameter.MEAN) == (1, 1, 4)
    assert pb.V1LayerParameter.CONVOLUTION == 4 and pb.V1LayerParameter.LayerType.Name(39) == "DECONVOLUTION"
    s = pb.SolverParameter()
    assert (s.solver_mode, s.type, s.average_loss, s.clip_gradients, s.random_seed) == (pb.SolverParameter.GPU,
                                                                                         "SGD", 1, -1, -1)
    assert s.test_initialization is True and s.snapshot_format == pb.SolverParameter.BINARYPROTO
    assert pb.FillerParameter().type == "constant" and pb.FillerParameter().std == 1
    assert pb.ParamSpec().lr_mult == 1 and pb.NetState().phase == pb.TEST and pb.NetStateRule().phase == pb.TRAIN
    assert pb.ConvolutionParameter().bias_term is True and pb.PoolingParameter().stride == 1
    assert pb.ReductionParameter().operation == pb.ReductionParameter.SUM == 1
    assert pb.LossParameter().normalization == pb.LossParameter.VALID
    assert pb.Phase.Value("TEST") == 1 and pb.Phase.TRAIN == 0


def test_every_schema_field_has_a_number():
    """A field added to a layer's param_fields needs its number in caffe_pb2.NUMBERS (else it is left out)."""
    assert pb.UNNUMBERED == []
    for name in ("ConvolutionParameter", "RecurrentParameter", "BatchNormParameter", "ScaleParameter",
                 "SequenceDataParameter", "TransformationParameter"):
        assert hasattr(pb, name)


def test_message_api():
    layer = pb.LayerParameter(name="c", type="Convolution", bottom=["x"], top=["y"])
    layer.param.add(lr_mult=2)
    layer.param.append(pb.ParamSpec(decay_mult=0))
    layer.convolution_param.kernel_size.extend([3, 3])
    assert len(layer.param) == 2 and layer.param[1].decay_mult == 0 and list(layer.bottom) == ["x"]
    assert layer.top.index("y") == 0 and layer.bottom == ["x"]
    copy = pb.LayerParameter()
    copy.CopyFrom(layer)
    assert copy == layer and copy is not layer
    copy.param[0].lr_mult = 3
    assert layer.param[0].lr_mult == 2 and copy != layer  # CopyFrom copies deeply
    copy.MergeFrom(layer)
    assert len(copy.param) == 4 and list(copy.convolution_param.kernel_size) == [3, 3, 3, 3]
    layer.ClearField("convolution_param")
    assert not layer.HasField("convolution_param") and len(layer.convolution_param.kernel_size) == 0
    detached = layer.pooling_param
    layer.ClearField("pooling_param")
    detached.pad = 1  # a sub-message read before its field was cleared no longer belongs to the layer
    assert not layer.HasField("pooling_param") and layer.pooling_param.pad == 0
    assert pickle.loads(pickle.dumps(copy)) == copy
    with pytest.raises(ValueError, match="repeated"):
        layer.HasField("param")
    with pytest.raises(AttributeError, match="no field 'nme'"):
        layer.nme = "x"
    with pytest.raises(AttributeError, match="no field 'nme'"):
        layer.nme
    with pytest.raises(AttributeError, match="assignment not allowed to repeated field 'bottom'"):
        layer.bottom = ["a"]
    with pytest.raises(AttributeError, match="CopyFrom"):
        layer.convolution_param = pb.ConvolutionParameter()
    with pytest.raises(TypeError, match="expected an int"):
        layer.convolution_param.num_output = 1.5
    with pytest.raises(ValueError, match="out of uint32 range"):
        layer.convolution_param.num_output = -1
    with pytest.raises(TypeError, match="expected str"):
        layer.bottom.append(3)
    with pytest.raises(ValueError, match="PoolMethod has no value 7"):
        layer.pooling_param.pool = 7
    layer.pooling_param.pool = "AVE"  # by name, too
    assert layer.pooling_param.pool == pb.PoolingParameter.AVE
    assert pb.BlobProto(data=np.arange(3, dtype=np.float64) / 3).data[1] == np.float32(1 / 3)


def test_unknown_fields_are_kept_and_bad_bytes_are_decode_errors():
    # field 999 (varint) in a LayerParameter, and a Phase value caffe.proto lacks (a closed enum)
    data = pb.LayerParameter(name="x").SerializeToString() + b"\xb8\x3e\x05" + b"\x50\x07"
    layer = pb.LayerParameter.FromString(data)
    assert layer.name == "x" and not layer.HasField("phase")
    assert layer.SerializeToString() == data
    with pytest.raises(DecodeError, match="LayerParameter"):
        pb.LayerParameter.FromString(b"\x0a\x05ab")  # a string running past the end
    with pytest.raises(DecodeError, match="not UTF-8"):
        pb.LayerParameter.FromString(b"\x0a\x01\xff")


def test_text_format_errors_name_line_and_field():
    with pytest.raises(PrototxtError, match=r"<string>:3:\d+: unknown field 'num_outptu' in ConvolutionParameter"):
        text_format.Merge('layer {\n  convolution_param {\n    num_outptu: 3 } }', pb.NetParameter())
    with pytest.raises(PrototxtError, match=r":1:\d+: field 'pool' of PoolingParameter: .*no value named 'MAXX'"):
        text_format.Merge("pool: MAXX", pb.PoolingParameter())
    with pytest.raises(PrototxtError, match="is given 2 times"):
        text_format.Parse('name: "a" name: "b"', pb.NetParameter())
    assert text_format.Merge('name: "a" name: "b"', pb.NetParameter()).name == "b"
    net = text_format.Parse('name: "a"', pb.NetParameter(input=["old"]))
    assert len(net.input) == 0  # Parse clears first, Merge adds


def test_net_and_solver_take_messages(tmp_path):
    with open(os.path.join(HERE, "golden", "relu", "net.prototxt")) as f:
        netp = text_format.Merge(f.read(), pb.NetParameter())
    net = caffe.Net(netp, caffe.TEST)
    assert list(net.blobs) == list(caffe.Net(os.path.join(HERE, "golden", "relu", "net.prototxt"), caffe.TEST).blobs)
    sp = pb.SolverParameter(base_lr=0.5, max_iter=3, lr_policy="fixed", type="Nesterov", momentum=0.9,
                            snapshot_prefix=str(tmp_path / "s"), snapshot_after_train=False, display=0)
    sp.net_param.CopyFrom(text_format.Merge('''
        layer { name: "d" type: "DummyData" top: "x" top: "y"
                dummy_data_param { shape { dim: 4 dim: 3 } shape { dim: 4 dim: 2 }
                                   data_filler { type: "gaussian" } data_filler { type: "gaussian" } } }
        layer { name: "ip" type: "InnerProduct" bottom: "x" top: "p" inner_product_param { num_output: 2
                weight_filler { type: "gaussian" } } }
        layer { name: "loss" type: "EuclideanLoss" bottom: "p" bottom: "y" top: "loss" }''', pb.NetParameter()))
    solver = caffe.get_solver(sp)
    assert isinstance(solver, caffe.NesterovSolver)
    solver.solve()
    assert solver.iter == 3
    param = solver.param
    assert isinstance(param, pb.SolverParameter)
    assert (param.base_lr, param.max_iter, param.type, param.momentum) == (0.5, 3, "Nesterov", np.float32(0.9))
    assert param.net_param.layer[1].inner_product_param.num_output == 2
    assert param.test_initialization is True  # an unset field reads as its default


def test_io_blobproto_and_datum():
    arr = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    blob = caffe.io.array_to_blobproto(arr, diff=-arr)
    assert isinstance(blob, pb.BlobProto) and list(blob.shape.dim) == [2, 3, 4]
    np.testing.assert_array_equal(caffe.io.blobproto_to_array(blob), arr)
    np.testing.assert_array_equal(caffe.io.blobproto_to_array(blob, return_diff=True), -arr)
    np.testing.assert_array_equal(caffe.io.blobproto_to_array(blob.SerializeToString()), arr)
    legacy = pb.BlobProto(num=1, channels=2, height=1, width=2, data=[1, 2, 3, 4])  # a mean.binaryproto's form
    assert caffe.io.blobproto_to_array(legacy).shape == (1, 2, 1, 2)
    with pytest.raises(ValueError, match="3 data values for shape"):
        caffe.io.blobproto_to_array(pb.BlobProto(num=1, channels=2, height=1, width=2, data=[1, 2, 3]))
    image = np.arange(12, dtype=np.uint8).reshape(3, 2, 2)
    datum = caffe.io.array_to_datum(image, label=4)
    assert (datum.channels, datum.height, datum.width, datum.label, datum.data) == (3, 2, 2, 4, image.tobytes())
    np.testing.assert_array_equal(caffe.io.datum_to_array(pb.Datum.FromString(datum.SerializeToString())), image)
    floats = caffe.io.array_to_datum(image.astype(np.float32) / 2)
    assert not floats.data and caffe.io.datum_to_array(floats)[2, 1, 1] == 5.5
    with pytest.raises(ValueError, match="channels, height, width"):
        caffe.io.array_to_datum(np.zeros((2, 2)))


def test_v1_net_message_is_read_by_net_and_our_weight_reader():
    net = text_format.Merge('''name: "v1" input: "data" input_dim: 1 input_dim: 3 input_dim: 4 input_dim: 4
        layers { name: "conv1" type: CONVOLUTION bottom: "data" top: "conv1" blobs_lr: 1 blobs_lr: 2
                 weight_decay: 1 weight_decay: 0 convolution_param { num_output: 2 kernel_size: 3 } }
        layers { name: "relu" type: RELU bottom: "conv1" top: "conv1" }''', pb.NetParameter())
    conv = net.layers[0]
    assert conv.type == pb.V1LayerParameter.CONVOLUTION and list(conv.blobs_lr) == [1, 2]
    built = caffe.Net(net, caffe.TEST)  # upgraded to V2 in memory
    assert built.params["conv1"][0].data.shape == (2, 3, 3, 3)
    assert built.layer_dict["conv1"].layer_param.msgs("param")[1].float("decay_mult") == 0
    weights = caffemodel.read_caffemodel(net.SerializeToString())
    assert weights.format == "V1" and [(l.name, l.type) for l in weights.layers] == [("conv1", "Convolution"),
                                                                                      ("relu", "ReLU")]


def _value_strategy(f):
    from hypothesis import strategies as st
    if f.kind in ("int32", "uint32", "int64"):
        lo, hi = {"int32": (-2**31, 2**31 - 1), "uint32": (0, 2**32 - 1), "int64": (-2**63, 2**63 - 1)}[f.kind]
        return st.integers(lo, hi)
    if f.kind in ("float", "double"):
        return st.floats(allow_nan=False, width=32 if f.kind == "float" else 64)
    if f.kind == "bool":
        return st.booleans()
    if f.kind == "string":
        return st.text(max_size=8)
    if f.kind == "bytes":
        return st.binary(max_size=8)
    return st.sampled_from(f.enum.values())


def test_random_scalar_fields_match_protobuf(real):
    """Every scalar field of a few messages, random values: same bytes, same text (both styles), same decode."""
    hypothesis = pytest.importorskip("hypothesis")
    from google.protobuf import text_format as gtext
    from hypothesis import strategies as st
    names = ["SolverParameter", "ConvolutionParameter", "Datum", "BlobProto", "NetStateRule", "ParamSpec"]

    @st.composite
    def messages(draw):
        name = draw(st.sampled_from(names))
        fields = [f for f in getattr(pb, name).DESCRIPTOR.fields if f.kind != "message"]
        chosen = draw(st.lists(st.sampled_from(fields), max_size=6, unique_by=lambda f: f.name))
        return name, [(f, draw(st.lists(_value_strategy(f), min_size=1, max_size=3) if f.repeated
                                else _value_strategy(f))) for f in chosen]

    @hypothesis.settings(max_examples=40, deadline=None, derandomize=True)
    @hypothesis.given(messages())
    def check(case):
        name, values = case
        ours, theirs = getattr(pb, name)(), real[name]()
        for f, v in values:
            for m in (ours, theirs):
                if f.repeated:
                    getattr(m, f.name).extend(v)
                else:
                    setattr(m, f.name, v)
        data = theirs.SerializeToString()
        assert ours.SerializeToString() == data
        assert getattr(pb, name).FromString(data) == ours
        assert str(ours) == str(theirs) and text_format.MessageToString(ours) == gtext.MessageToString(theirs)
        # (== on values: "-0", as str() writes -0.0 like upb does, reads back as the number 0)
        assert text_format.Merge(str(ours), getattr(pb, name)()) == ours
    check()
