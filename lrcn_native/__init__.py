"""lrcn_native: a Caffe-faithful LRCN with its own CPU and CUDA kernels, with pycaffe's API.

    import lrcn_native as caffe
    net = caffe.Net("deploy.prototxt", caffe.TEST, weights="model.caffemodel")
"""
from .backend import K as _K  # noqa: F401  (loads the native module and the CPU BLAS)
from .glog import init_log, log_info as log  # after the backend, whose import-time lines stay unprinted
from . import draw, io
from .blob import Blob
from .classifier import Classifier
from .detector import Detector
from .layer import TEST, TRAIN, Layer, layer_type_list
from .mode import set_device, set_mode_cpu, set_mode_gpu, set_random_seed
from .net import Net, NetError
from .net_spec import NetSpec, layers, params, to_proto
from .proto import caffe_pb2  # noqa: F401  (caffe.proto.caffe_pb2)
from .parallel import (NCCL, has_nccl, set_multiprocess, set_solver_count, set_solver_rank, solver_count,
                       solver_rank)
from .proto.text import PrototxtError
from .solver import (AdaDeltaSolver, AdaGradSolver, AdamSolver, NesterovSolver, RMSPropSolver, SGDSolver,
                     get_solver)
from .timer import Timer

__all__ = ["Blob", "Layer", "Net", "NetError", "PrototxtError", "TEST", "TRAIN", "set_device", "set_mode_cpu",
           "set_mode_gpu", "set_random_seed", "SGDSolver", "NesterovSolver", "AdaGradSolver", "RMSPropSolver",
           "AdaDeltaSolver", "AdamSolver", "get_solver", "NetSpec", "layers", "params", "to_proto", "init_log", "log",
           "layer_type_list", "Timer", "Classifier", "Detector", "draw", "io", "NCCL", "has_nccl", "solver_count",
           "set_solver_count", "solver_rank", "set_solver_rank", "set_multiprocess"]
__version__ = "0.1.0"
