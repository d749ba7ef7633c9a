"""pycaffe's ``caffe.proto.caffe_pb2``: Caffe's messages as Python classes, without protobuf.

    from lrcn_native.proto import caffe_pb2
    net = caffe_pb2.NetParameter()
    net.ParseFromString(open("model.caffemodel", "rb").read())
    print(net.layer[0].name, caffe_pb2.PoolingParameter.MAX, caffe_pb2.TRAIN)

Field names and kinds come from our schema (proto/schema.py and each layer's ``param_fields``); this file
adds what the schema lacks: field numbers, non-zero defaults, enums, packing, doubles and bytes, and four
messages the schema does not validate (Datum, SolverState, BlobProtoVector, V1LayerParameter). Numbers
and defaults are facts of BVLC caffe.proto (master). Fields the LRCN forks or this package added
(marked "ours" below) get numbers from 1000 up, clear of BVLC's: the activity fork's ``flow`` is 6 in its
TransformationParameter, where BVLC has force_color. A schema field without a number here is left out
of its class and listed in UNNUMBERED (a test keeps it empty); the runtime is in proto/message.py.
"""
from .. import layer_types  # noqa: F401  (registers every layer type: their param_fields make LayerParameter)
from . import schema
from .message import EnumType, build_classes
from .schema import B, F, I, Rep, S

# Messages of caffe.proto that prototxt files never hold, so schema.py does not declare them.
DATUM = {"channels": I, "height": I, "width": I, "data": "bytes", "label": I, "float_data": Rep(F), "encoded": B}
SOLVER_STATE = {"iter": I, "learned_net": S, "history": Rep(schema.BLOB_PROTO), "current_step": I}
BLOB_PROTO_VECTOR = {"blobs": Rep(schema.BLOB_PROTO)}
# V1LayerParameter as our upgrade (proto/upgrade.py) reads it: the parameter messages are V2's.
V1_LAYER_PARAMS = ("accuracy_param argmax_param concat_param convolution_param data_param dropout_param "
                   "dummy_data_param eltwise_param exp_param hdf5_data_param hdf5_output_param image_data_param "
                   "inner_product_param lrn_param pooling_param power_param relu_param sigmoid_param "
                   "softmax_param slice_param tanh_param threshold_param transform_param loss_param").split()

# "field number [=default] [packed] [double|bytes|:Enum]" per field. Enum fields name their enum type
# (declared in ENUMS under the same message, or a top-level one).
NUMBERS = {
    "BlobShape": "dim 1 packed",
    "BlobProto": "num 1, channels 2, height 3, width 4, data 5 packed, diff 6 packed, shape 7, "
                 "double_data 8 packed double, double_diff 9 packed double",
    "BlobProtoVector": "blobs 1",
    "Datum": "channels 1, height 2, width 3, data 4 bytes, label 5, float_data 6, encoded 7",
    "FillerParameter": "type 1 =constant, value 2, min 3, max 4 =1, mean 5, std 6 =1, sparse 7 =-1, "
                       "variance_norm 8 :VarianceNorm",
    "NetParameter": "name 1, layers 2, input 3, input_dim 4, force_backward 5, state 6, debug_info 7, "
                    "input_shape 8, layer 100",
    "SolverParameter": "train_net 1, test_net 2, test_iter 3, test_interval 4, base_lr 5, display 6, max_iter 7, "
                       "lr_policy 8, gamma 9, power 10, momentum 11, weight_decay 12, stepsize 13, snapshot 14, "
                       "snapshot_prefix 15, snapshot_diff 16, solver_mode 17 =GPU :SolverMode, device_id 18, "
                       "test_compute_loss 19, random_seed 20 =-1, train_net_param 21, test_net_param 22, "
                       "debug_info 23, net 24, net_param 25, train_state 26, test_state 27, "
                       "snapshot_after_train 28 =true, regularization_type 29 =L2, solver_type 30 :SolverType, "
                       "delta 31 =1e-8, test_initialization 32 =true, average_loss 33 =1, stepvalue 34, "
                       "clip_gradients 35 =-1, iter_size 36 =1, snapshot_format 37 =BINARYPROTO :SnapshotFormat, "
                       "rms_decay 38 =0.99, momentum2 39 =0.999, type 40 =SGD, layer_wise_reduce 41 =true, "
                       "weights 42",
    "SolverState": "iter 1, learned_net 2, history 3, current_step 4",
    "NetState": "phase 1 =TEST :Phase, level 2, stage 3",
    "NetStateRule": "phase 1 :Phase, min_level 2, max_level 3, stage 4, not_stage 5",
    "ParamSpec": "name 1, share_mode 2 :DimCheckMode, lr_mult 3 =1, decay_mult 4 =1",
    "LayerParameter": "name 1, type 2, bottom 3, top 4, loss_weight 5, param 6, blobs 7, include 8, exclude 9, "
                      "phase 10 :Phase, propagate_down 11, transform_param 100, loss_param 101, "
                      "accuracy_param 102, argmax_param 103, concat_param 104, contrastive_loss_param 105, "
                      "convolution_param 106, data_param 107, dropout_param 108, dummy_data_param 109, "
                      "eltwise_param 110, exp_param 111, hdf5_data_param 112, hdf5_output_param 113, "
                      "hinge_loss_param 114, image_data_param 115, infogain_loss_param 116, "
                      "inner_product_param 117, lrn_param 118, memory_data_param 119, mvn_param 120, "
                      "pooling_param 121, power_param 122, relu_param 123, sigmoid_param 124, softmax_param 125, "
                      "slice_param 126, tanh_param 127, threshold_param 128, window_data_param 129, "
                      "python_param 130, prelu_param 131, spp_param 132, reshape_param 133, log_param 134, "
                      "flatten_param 135, reduction_param 136, embed_param 137, tile_param 138, "
                      "batch_norm_param 139, elu_param 140, bias_param 141, scale_param 142, input_param 143, "
                      "crop_param 144, parameter_param 145, recurrent_param 146, swish_param 147, clip_param 148, "
                      "sequence_data_param 1000",  # ours
    "V1LayerParameter": "bottom 2, top 3, name 4, type 5 :LayerType, blobs 6, blobs_lr 7, weight_decay 8, "
                        "concat_param 9, convolution_param 10, data_param 11, dropout_param 12, "
                        "hdf5_data_param 13, hdf5_output_param 14, image_data_param 15, inner_product_param 17, "
                        "lrn_param 18, pooling_param 19, power_param 21, argmax_param 23, eltwise_param 24, "
                        "threshold_param 25, dummy_data_param 26, accuracy_param 27, relu_param 30, "
                        "slice_param 31, include 32, exclude 33, loss_weight 35, transform_param 36, "
                        "tanh_param 37, sigmoid_param 38, softmax_param 39, exp_param 41, loss_param 42, "
                        "param 1001, blob_share_mode 1002 :DimCheckMode",
    "TransformationParameter": "scale 1 =1, mirror 2, crop_size 3, mean_file 4, mean_value 5, force_color 6, "
                               "force_gray 7, flow 1000",  # flow: ours (activity fork)
    "LossParameter": "ignore_label 1, normalize 2, normalization 3 =VALID :NormalizationMode",
    "AccuracyParameter": "top_k 1 =1, axis 2 =1, ignore_label 3",
    "ArgMaxParameter": "out_max_val 1, top_k 2 =1, axis 3",
    "ConcatParameter": "concat_dim 1 =1, axis 2 =1",
    "BatchNormParameter": "use_global_stats 1, moving_average_fraction 2 =0.999, eps 3 =1e-5",
    "BiasParameter": "axis 1 =1, num_axes 2 =1, filler 3",
    "ConvolutionParameter": "num_output 1, bias_term 2 =true, pad 3, kernel_size 4, group 5 =1, stride 6, "
                            "weight_filler 7, bias_filler 8, pad_h 9, pad_w 10, kernel_h 11, kernel_w 12, "
                            "stride_h 13, stride_w 14, engine 15 :Engine, axis 16 =1, force_nd_im2col 17, "
                            "dilation 18",
    "CropParameter": "axis 1 =2, offset 2",
    "DataParameter": "source 1, scale 2 =1, mean_file 3, batch_size 4, crop_size 5, mirror 6, rand_skip 7, "
                     "backend 8 :DB, force_encoded_color 9, prefetch 10 =4",
    "DropoutParameter": "dropout_ratio 1 =0.5",
    "DummyDataParameter": "data_filler 1, num 2, channels 3, height 4, width 5, shape 6",
    "EltwiseParameter": "operation 1 =SUM :EltwiseOp, coeff 2, stable_prod_grad 3 =true, "
                        "coeff_blob 1000",  # coeff_blob: ours (recurrent fork)
    "ELUParameter": "alpha 1 =1",
    "EmbedParameter": "num_output 1, input_dim 2, bias_term 3 =true, weight_filler 4, bias_filler 5",
    "ExpParameter": "base 1 =-1, scale 2 =1, shift 3",
    "FlattenParameter": "axis 1 =1, end_axis 2 =-1",
    "HDF5DataParameter": "source 1, batch_size 2, shuffle 3",
    "HDF5OutputParameter": "file_name 1",
    "ImageDataParameter": "source 1, scale 2 =1, mean_file 3, batch_size 4 =1, crop_size 5, mirror 6, "
                          "rand_skip 7, shuffle 8, new_height 9, new_width 10, is_color 11 =true, root_folder 12, "
                          "min_height 1000, min_width 1001",  # min_*: ours (activity fork)
    "InnerProductParameter": "num_output 1, bias_term 2 =true, weight_filler 3, bias_filler 4, axis 5 =1, "
                             "transpose 6",
    "InputParameter": "shape 1",
    "LogParameter": "base 1 =-1, scale 2 =1, shift 3",
    "MemoryDataParameter": "batch_size 1, channels 2, height 3, width 4",
    "LRNParameter": "local_size 1 =5, alpha 2 =1, beta 3 =0.75, norm_region 4 :NormRegion, k 5 =1, "
                    "engine 6 :Engine",
    "PoolingParameter": "pool 1 :PoolMethod, kernel_size 2, stride 3 =1, pad 4, kernel_h 5, kernel_w 6, "
                        "stride_h 7, stride_w 8, pad_h 9, pad_w 10, engine 11 :Engine, global_pooling 12, "
                        "round_mode 13 :RoundMode",
    "PowerParameter": "power 1 =1, scale 2 =1, shift 3",
    "PReLUParameter": "filler 1, channel_shared 2",
    "PythonParameter": "module 1, layer 2, param_str 3, share_in_parallel 4",
    "RecurrentParameter": "num_output 1, weight_filler 2, bias_filler 3, debug_info 4, expose_hidden 5",
    "ReductionParameter": "operation 1 =SUM :ReductionOp, axis 2, coeff 3 =1",
    "ReLUParameter": "negative_slope 1, engine 2 :Engine",
    "ReshapeParameter": "shape 1, axis 2, num_axes 3 =-1",
    "ScaleParameter": "axis 1 =1, num_axes 2 =1, filler 3, bias_term 4, bias_filler 5",
    "SigmoidParameter": "engine 1 :Engine",
    "SliceParameter": "slice_dim 1 =1, slice_point 2, axis 3 =1",
    "SoftmaxParameter": "engine 1 :Engine, axis 2 =1",
    "TanHParameter": "engine 1 :Engine",
    "ThresholdParameter": "threshold 1",
    "TileParameter": "axis 1 =1, tiles 2",
    # ours: the activity fork's Python data layer as a layer type (layer_types/sequence_data.py)
    "SequenceDataParameter": "source 1, root_folder 2, frames 3 =16, buffer_size 4 =24, flow 5, new_height 6, "
                             "new_width 7, crop_size 8, mean_value 9, mirror 10, crop_only_when_mirrored 11, "
                             "mirror_negates_flow_x 12, seed 13",
}

# Enum types of each message: "NAME ..." (values count up from 0 unless given as NAME=value).
_ENGINE = "DEFAULT CAFFE CUDNN"
Phase = EnumType("Phase", "TRAIN TEST")  # caffe.proto's one top-level enum
TRAIN, TEST = Phase.TRAIN, Phase.TEST
ENUMS = {
    "FillerParameter": {"VarianceNorm": "FAN_IN FAN_OUT AVERAGE"},
    "SolverParameter": {"SnapshotFormat": "HDF5 BINARYPROTO", "SolverMode": "CPU GPU",
                        "SolverType": "SGD NESTEROV ADAGRAD RMSPROP ADADELTA ADAM"},
    "ParamSpec": {"DimCheckMode": "STRICT PERMISSIVE"},
    "LossParameter": {"NormalizationMode": "FULL VALID BATCH_SIZE NONE"},
    "ConvolutionParameter": {"Engine": _ENGINE},
    "DataParameter": {"DB": "LEVELDB LMDB"},
    "EltwiseParameter": {"EltwiseOp": "PROD SUM MAX"},
    "LRNParameter": {"NormRegion": "ACROSS_CHANNELS WITHIN_CHANNEL", "Engine": _ENGINE},
    "PoolingParameter": {"PoolMethod": "MAX AVE STOCHASTIC", "Engine": _ENGINE, "RoundMode": "CEIL FLOOR"},
    "ReductionParameter": {"ReductionOp": "SUM=1 ASUM=2 SUMSQ=3 MEAN=4"},
    "ReLUParameter": {"Engine": _ENGINE},
    "SigmoidParameter": {"Engine": _ENGINE},
    "SoftmaxParameter": {"Engine": _ENGINE},
    "TanHParameter": {"Engine": _ENGINE},
    "V1LayerParameter": {
        "LayerType": "NONE=0 ACCURACY=1 BNLL=2 CONCAT=3 CONVOLUTION=4 DATA=5 DROPOUT=6 EUCLIDEAN_LOSS=7 FLATTEN=8 "
                     "HDF5_DATA=9 HDF5_OUTPUT=10 IM2COL=11 IMAGE_DATA=12 INFOGAIN_LOSS=13 INNER_PRODUCT=14 LRN=15 "
                     "MULTINOMIAL_LOGISTIC_LOSS=16 POOLING=17 RELU=18 SIGMOID=19 SOFTMAX=20 SOFTMAX_LOSS=21 "
                     "SPLIT=22 TANH=23 WINDOW_DATA=24 ELTWISE=25 POWER=26 SIGMOID_CROSS_ENTROPY_LOSS=27 "
                     "HINGE_LOSS=28 MEMORY_DATA=29 ARGMAX=30 THRESHOLD=31 DUMMY_DATA=32 SLICE=33 MVN=34 "
                     "ABSVAL=35 SILENCE=36 CONTRASTIVE_LOSS=37 EXP=38 DECONVOLUTION=39",
        "DimCheckMode": "STRICT PERMISSIVE"},
}

# LayerParameter fields whose message name is not the CamelCase of the field name + "Parameter".
_IRREGULAR = {"transform_param": "TransformationParameter", "lrn_param": "LRNParameter",
              "hdf5_data_param": "HDF5DataParameter", "hdf5_output_param": "HDF5OutputParameter",
              "argmax_param": "ArgMaxParameter", "relu_param": "ReLUParameter", "prelu_param": "PReLUParameter",
              "elu_param": "ELUParameter", "tanh_param": "TanHParameter", "mvn_param": "MVNParameter",
              "spp_param": "SPPParameter"}


def message_name(field):
    """The message type of a LayerParameter field: convolution_param -> ConvolutionParameter."""
    return _IRREGULAR.get(field) or "".join(w.capitalize() for w in field[:-len("_param")].split("_")) + "Parameter"


def _schemas():
    """(message name -> its schema dict, id(schema dict) -> message name for the dicts nested in others)."""
    schema.assemble_layer_schema()
    layer = {k: v for k, v in schema.LAYER.items() if v != "any"}
    named = {"BlobShape": schema.BLOB_SHAPE, "BlobProto": schema.BLOB_PROTO, "FillerParameter": schema.FILLER,
             "NetState": schema.NET_STATE, "NetStateRule": schema.NET_STATE_RULE, "ParamSpec": schema.PARAM_SPEC,
             "NetParameter": schema.NET, "SolverParameter": schema.SOLVER, "LayerParameter": layer,
             "Datum": DATUM, "SolverState": SOLVER_STATE, "BlobProtoVector": BLOB_PROTO_VECTOR}
    for field, fields in layer.items():
        if isinstance(fields, dict):
            named.setdefault(message_name(field), fields)
    ids = {id(fields): name for name, fields in reversed(named.items())}
    ids[id(schema.LAYER)] = "LayerParameter"
    net = dict(schema.NET)
    net["layers"] = Rep("V1LayerParameter")
    named["NetParameter"] = net
    named["V1LayerParameter"] = {**{k: layer[k] for k in ("bottom", "top", "name", "blobs", "include", "exclude",
                                                          "loss_weight", *V1_LAYER_PARAMS)},
                                 "type": schema.E, "blobs_lr": Rep(F), "weight_decay": Rep(F), "param": Rep(S),
                                 "blob_share_mode": Rep(schema.E)}
    return named, ids


UNNUMBERED = []  # "Message.field" of the schema that NUMBERS lacks
MESSAGES = build_classes(*_schemas(), NUMBERS, ENUMS, {"Phase": Phase}, UNNUMBERED)  # name -> class
globals().update(MESSAGES)
for _cls in MESSAGES.values():
    _cls.__module__ = __name__  # where pickle finds them
