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
    _use_device(_state["device"])
    _state["gpu"] = True


def set_device(device_id):
    """The device GPU mode runs on (now, if in GPU mode); kernels run on cupy's current stream of it, read at
    each call."""
    device_id = int(device_id)
    if _state["gpu"]:
        _use_device(device_id)
    _state["device"] = device_id


def _use_device(device_id):
    # Both CUDA runtimes, cupy's and the one linked into our module, must launch on this device.
    import cupy
    count = K.device_count()
    if not 0 <= device_id < count:
        raise RuntimeError(f"set_device: no CUDA device {device_id} (this machine has {count})")
    cupy.cuda.Device(device_id).use()
    K.set_device(device_id)


def set_random_seed(seed):
    """Seeds fillers and dropout masks: the same seed gives the same numbers, bit for bit."""
    _state["rng"] = np.random.default_rng(int(seed))


def gpu():
    return _state["gpu"]


def rng():
    return _state["rng"]
