"""The native module in use and the CPU BLAS behind it.

One extension module serves a process: ``_cuda`` (CPU and CUDA kernels) when it was built and
imports, else ``_C`` (CPU only). Both resolve OpenBLAS at import: the scipy-openblas32 wheel first,
else the ILP64 copy bundled with numpy (ECOSYSTEM.md). ``K`` is the module every layer calls.
"""
import contextlib
import glob
import logging
import os

log = logging.getLogger("lrcn_native")


@contextlib.contextmanager
def _loading_with(name, value):
    """Sets environment variable ``name`` (unless the user did) while a library that reads it once, when it
    is loaded, loads; then restores the environment exactly, so that importing the package changes nothing
    that child processes or the user's code see. ``value`` None: nothing to set."""
    if value is None or name in os.environ:
        yield
        return
    os.environ[name] = value
    try:
        yield
    finally:
        del os.environ[name]


def _no_extension():
    """The ImportError for a package folder without its compiled module: most often the source tree,
    imported instead of the installed package because it is the current directory (or on sys.path)."""
    here = os.path.dirname(os.path.abspath(__file__))
    source_tree = os.path.exists(os.path.join(os.path.dirname(here), "CMakeLists.txt"))
    return ImportError(
        f"lrcn_native's compiled module (_C or _cuda) is not in {here}. "
        + ("That is the source tree, which Python imports before an installed lrcn_native when you run from "
           "the repository root (or have it on sys.path): build it in place (cmake -S . -B build -G Ninja "
           "-Dpybind11_DIR=$(python -m pybind11 --cmakedir) && cmake --build build), or run from another "
           "directory to use the installed package." if source_tree else
           "Reinstall the package (pip install lrcn_native) so that its extension is built."))


# Our OpenMP loops and OpenBLAS's own threads share the cores. libgomp's workers spin after each parallel
# region by default and then steal the cycles BLAS threads need (on 2 cores the LSTM's per-step GEMMs ran
# ~20% slower, bench_lstm.py); passive workers sleep instead. libgomp reads the policy when our module
# loads it (a libgomp some other module loaded earlier keeps its own); a policy the user set wins.
with _loading_with("OMP_WAIT_POLICY", "PASSIVE"):
    try:
        from . import _cuda as K
    except ImportError:  # built without CUDA
        try:
            from . import _C as K
        except ImportError:
            if glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_C.*")):
                raise  # it is there but does not load: its own error says why
            raise _no_extension() from None


def _blas_candidates():
    try:
        import scipy_openblas32
        yield os.path.join(scipy_openblas32.get_lib_dir(), f"lib{scipy_openblas32.get_library()}.so")
    except ImportError:
        pass
    import numpy
    libs = os.path.join(os.path.dirname(os.path.dirname(numpy.__file__)), "numpy.libs")
    yield from sorted(glob.glob(os.path.join(libs, "libscipy_openblas64_*.so")))


def _avx512_core():
    """OpenBLAS maps AMD Zen CPUs to its AVX2 (Haswell) kernels even when they have AVX-512; on the
    project machines (AVX-512 EPYC) its SkylakeX kernels run sgemm ~1.7× faster (bench_lstm.py). "SkylakeX"
    when the CPU has the AVX-512 subsets they use, else None. OpenBLAS reads OPENBLAS_CORETYPE only when
    the library is loaded (gemm_cpu_init below); a core type the user chose wins."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split() for line in f if line.startswith("flags")), [])
    except OSError:
        return None
    return "SkylakeX" if {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"} <= set(flags) else None


def _init_blas():
    errors = []
    for path in _blas_candidates():
        try:
            with _loading_with("OPENBLAS_CORETYPE", _avx512_core()):
                K.gemm_cpu_init(path)
            log.info("CPU sgemm: %s", K.gemm_cpu_library())
            return
        except RuntimeError as e:
            errors.append(str(e))
    raise ImportError("lrcn_native found no OpenBLAS for the CPU sgemm (install scipy-openblas32): "
                      + "; ".join(errors))


def _corename():
    """The kernel set OpenBLAS chose ("Haswell", "SkylakeX", ...; OPENBLAS_CORETYPE overrides it), or None."""
    import ctypes
    try:
        lib = ctypes.CDLL(K.gemm_cpu_library().split(" (")[0])
    except OSError:
        return None
    for name in ("scipy_openblas_get_corename", "scipy_openblas_get_corename64_"):
        if hasattr(lib, name):
            getattr(lib, name).restype = ctypes.c_char_p
            return getattr(lib, name)().decode()
    return None


_init_blas()
blas_library = K.gemm_cpu_library()
blas_core = _corename()
log.info("OpenBLAS kernels: %s", blas_core)
has_cuda = bool(K.has_cuda)
