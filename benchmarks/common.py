"""What every bench_*.py shares: the baseline import order, the package to time, the timer, the CPU peak,
the machine header and where results go.

Import this module before lrcn_native: it imports PyTorch (the baseline) first, so that PyTorch's OpenMP
runtime starts with its own defaults, not the OMP_WAIT_POLICY lrcn_native.backend sets for ours. The
benchmarks time the installed lrcn_native; without one they fall back to this source tree if it was built in
place.
"""
import datetime
import glob
import importlib.util
import json
import os
import platform
import sys
import time

try:
    import torch
except ImportError:
    torch = None

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _use_installed_package():
    """An installed lrcn_native wins, with the source tree (which has no extension of its own after
    `pip install .`) kept off the path even when run from it; without one, the source tree if it was built
    in place (cmake -B build); else a clear error, not an ImportError deep inside lrcn_native."""
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.getcwd()) != os.path.realpath(ROOT)]
    if importlib.util.find_spec("lrcn_native") is not None:
        return
    if not glob.glob(os.path.join(ROOT, "lrcn_native", "_C*.so")):
        sys.exit(f"{os.path.basename(sys.argv[0])}: lrcn_native is not installed and {ROOT} has no built "
                 "extension: pip install . (or build in place with cmake)")
    sys.path.insert(0, ROOT)


_use_installed_package()

# The original LRCN prototxts (tests/util.py's rule): the folder LRCN_ORIGINAL names, else ../shared/lrcn_original.
ORIGINAL = os.environ.get("LRCN_ORIGINAL") or os.path.join(ROOT, "..", "shared", "lrcn_original")

# GFLOP/s: one CPU core of the project machine (AVX-512 FMA; the 2-core machine: 420), an H200's fp32 FMA rate.
PEAK_GFLOPS = {"cpu": 210.0, "gpu": 67000.0}
CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}


def best_seconds(fn, repeat, warmup=1, sync=lambda: None, clock="wall"):
    """The fastest of ``repeat`` runs of fn() after ``warmup`` runs: the least disturbed on a shared machine."""
    now = CLOCK[clock]
    for _ in range(warmup):
        fn()
    sync()
    best = float("inf")
    for _ in range(repeat):
        t0 = now()
        fn()
        sync()
        best = min(best, now() - t0)
    return best


def add_arguments(ap, quick_help="a run of a second or two: checks that the benchmark works"):
    """--quick and --out, which every benchmark takes (tests/test_benchmarks.py runs each with both)."""
    ap.add_argument("--quick", action="store_true", help=quick_help)
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/<name>.json)")


def header(**extra):
    """The machine and software a result was measured on; call ``finish`` on it at the end."""
    import numpy
    import lrcn_native
    from lrcn_native.backend import blas_core, blas_library
    return {"date": datetime.datetime.now().isoformat(timespec="seconds"),
            "machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                        "load_average_before": os.getloadavg(), "python": platform.python_version(),
                        "numpy": numpy.__version__, "blas": blas_library, "openblas_core": blas_core,
                        "torch": torch.__version__ if torch is not None else None,
                        "lrcn_native": os.path.dirname(lrcn_native.__file__)},
            **extra}


def save(results, args, name):
    """Writes results (from ``header``) to --out or benchmarks/results/<name>.json, with the load average
    after the run."""
    results["machine"]["load_average_after"] = os.getloadavg()
    path = args.out or os.path.join(HERE, "results", name + ".json")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {path}")
    return path
