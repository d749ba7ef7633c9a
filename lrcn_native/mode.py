"""Process-wide state, as in Caffe's singleton: CPU/GPU mode, the device, the random generator."""
import numpy as np

from .backend import K

_state = {"gpu": False, "device": 0, "rng": np.random.default_rng()}


def set_mode_cpu():
    _state["gpu"] = False


def set_mode_gpu():
    """Runs every layer with our CUDA kernels; an error (never a silent CPU fallback) without CUDA."""
    if not K.has_cuda:
        raise RuntimeError("set_mode_gpu: this lrcn_native was built without CUDA (no nvcc at build time); "
                           "reinstall on a machine with the CUDA toolkit")
    try:
        import cupy
    except ImportError:
        raise RuntimeError("set_mode_gpu: cupy is required for GPU mode (pip install 'lrcn_native[cuda]')") from None
    if K.device_count() == 0:
        raise RuntimeError("set_mode_gpu: no CUDA device is visible")
    cupy.cuda.Device(_state["device"]).use()
    K.set_stream(cupy.cuda.get_current_stream().ptr)
    _state["gpu"] = True


def set_device(device_id):
    _state["device"] = int(device_id)
    if _state["gpu"]:
        import cupy
        cupy.cuda.Device(_state["device"]).use()


def set_random_seed(seed):
    """Seeds fillers and dropout masks: the same seed gives the same numbers, bit for bit."""
    _state["rng"] = np.random.default_rng(int(seed))


def gpu():
    return _state["gpu"]


def rng():
    return _state["rng"]
