"""lrcn_native: a Caffe-faithful LRCN with its own CPU and CUDA kernels; pycaffe's API."""
from .backend import K as _K  # noqa: F401  (loads the native module and the CPU BLAS)
from . import io  # noqa: F401  (pycaffe's caffe.io)
