"""benchmarks/gpu_check.sh can never pass without a GPU: on a machine without one it stops at its first
stage with one clear line, and with a GPU but a CPU-only (or source-tree) lrcn_native at its import stage.
Both run the script's real checks; only the GPU is missing (or, for the second, faked: an nvidia-smi that
reports compute capability 9.0, so the script goes on to check the package)."""
import os
import shutil
import stat
import subprocess

import pytest

from util import HAS_GPU

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "gpu_check.sh")
no_gpu_here = pytest.mark.skipif(HAS_GPU or shutil.which("nvidia-smi") is not None,
                                 reason="this machine has a GPU: gpu_check.sh runs for real there")


def run_check(tmp_path, path, *args, **env):
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    environ.update(PATH=path, OUT=str(tmp_path / "out"), **env)
    return subprocess.run(["bash", SCRIPT, *args], env=environ, capture_output=True, text=True, timeout=60)


def lines(run):
    return run.stdout.strip().splitlines()


@no_gpu_here
def test_no_gpu_fails_at_the_device_stage(tmp_path):
    run = run_check(tmp_path, os.environ["PATH"])
    assert run.returncode == 1, run.stdout + run.stderr
    assert lines(run)[-2:] == [
        "gpu_check: stages passed: none",
        "gpu_check: FAILED at device: no NVIDIA GPU visible (nvidia-smi is not installed): run this on a GPU machine"]


@pytest.fixture
def fake_smi(tmp_path):
    """A folder holding an nvidia-smi that claims a compute capability 9.0 GPU, first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 9.0\n")
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


@no_gpu_here
def test_source_tree_package_fails_at_the_cuda_stage(tmp_path, fake_smi):
    run = run_check(tmp_path, fake_smi, "--no-install", PYTHONPATH=ROOT)
    assert run.returncode == 1, run.stdout + run.stderr
    assert lines(run)[-2] == "gpu_check: stages passed: device (sm_90) (0 s)"
    # Built in place, the source tree imports and the check names it; unbuilt (CI, after `pip install .`), its
    # import already fails, saying its compiled module is missing. Either way: the cuda stage, one clear line.
    last = lines(run)[-1]
    assert last.startswith("gpu_check: FAILED at cuda: ")
    assert ("lrcn_native was imported from the source tree" in last
            or "compiled module (_C or _cuda) is not in" in last), last


@no_gpu_here
def test_installed_package_without_a_device_fails_at_the_cuda_stage(tmp_path, fake_smi):
    # A copy of the package these tests import, outside the source tree, stands for an installed package: a
    # CPU-only one (lrcn_native._C) or a CUDA one on this machine without a device.
    import lrcn_native
    from lrcn_native.backend import K
    site = tmp_path / "site"
    shutil.copytree(os.path.dirname(lrcn_native.__file__), site / "lrcn_native",
                    ignore=shutil.ignore_patterns("__pycache__"))
    run = run_check(tmp_path, fake_smi, "--no-install", PYTHONPATH=str(site))
    assert run.returncode == 1, run.stdout + run.stderr
    why = ("lrcn_native._cuda sees no CUDA device" if K.has_cuda else
           "the CUDA module did not import: lrcn_native._C (a CPU-only build) from ")
    assert lines(run)[-1].startswith(f"gpu_check: FAILED at cuda: {why}"), run.stdout
