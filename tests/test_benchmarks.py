"""Every benchmark runs: benchmarks/bench_*.py --quick against the installed package, each writing its JSON
to a temporary path. Benchmarks time what users run, so this needs lrcn_native installed (pip install .)
and PyTorch, their baseline; it skips, saying which is missing, otherwise (e.g. in a developer build,
where the extension lives in the source tree only)."""
import glob
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHES = sorted(glob.glob(os.path.join(ROOT, "benchmarks", "bench_*.py")))


def installed_package(cwd):
    """The folder of the lrcn_native a fresh interpreter outside the source tree imports, or None."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = "import importlib.util, os; s = importlib.util.find_spec('lrcn_native'); print(s and os.path.dirname(s.origin) or '')"
    probe = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True)
    return probe.stdout.strip() or None


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    where = installed_package(tmp_path_factory.mktemp("probe"))
    if where is None or os.path.abspath(where).startswith(ROOT + os.sep):
        pytest.skip("lrcn_native is not installed (only built in place): `pip install .` to run the benchmarks")
    pytest.importorskip("torch", reason="PyTorch, the benchmarks' baseline, is not installed")
    return where


def test_every_benchmark_takes_quick_and_out():
    assert BENCHES, "no benchmarks/bench_*.py found"
    for path in BENCHES:
        with open(path) as f:
            text = f.read()
        assert "import common" in text and "common.add_arguments(" in text and "common.save(" in text, path


@pytest.mark.parametrize("bench", BENCHES, ids=os.path.basename)
def test_benchmark_quick(bench, package, tmp_path):
    out = tmp_path / "result.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([sys.executable, bench, "--quick", "--out", str(out)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"{os.path.basename(bench)} --quick failed:\n{run.stdout[-2000:]}{run.stderr[-3000:]}"
    result = json.loads(out.read_text())
    assert result["quick"] is True
    assert os.path.samefile(result["machine"]["lrcn_native"], package)  # timed the installed package
