"""Importing lrcn_native leaves the process environment as it found it, yet keeps the settings it loads its
libraries with: libgomp's passive wait policy (GOMP_SPINCOUNT 0) and OpenBLAS's AVX-512 kernels on CPUs
that have them. Each case runs in a fresh interpreter: both libraries read the variables once, when loaded."""
import json

import pytest
from util import run_python

from lrcn_native import backend

PROBE = """
import ctypes, json, os
before = dict(os.environ)
import lrcn_native
from lrcn_native.backend import blas_core
changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k))
gomp = ctypes.CDLL("libgomp.so.1")  # the copy our extension loaded
print(json.dumps({"changed": changed, "core": blas_core}), flush=True)
if hasattr(gomp, "omp_display_env"):
    gomp.omp_display_env(1)  # libgomp's own report of its settings, on stderr
"""


def probe(monkeypatch, **env):
    for name in ("OMP_WAIT_POLICY", "OPENBLAS_CORETYPE", "GOMP_SPINCOUNT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    r = run_python(PROBE, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    spin = [line.split("=")[1].strip(" '") for line in r.stderr.splitlines() if "GOMP_SPINCOUNT" in line]
    return out, (int(spin[0]) if spin else None)


def test_import_changes_no_environment_variable_and_keeps_the_speed_settings(monkeypatch):
    out, spin = probe(monkeypatch)
    assert out["changed"] == []
    if spin is None:
        pytest.skip("this libgomp has no omp_display_env: the wait policy cannot be read back")
    assert spin == 0  # OMP_WAIT_POLICY=PASSIVE was in force when libgomp loaded (its default spins 300000)
    if backend._avx512_core() is not None:
        assert out["core"] == "SkylakeX"


def test_the_users_own_settings_win(monkeypatch):
    out, spin = probe(monkeypatch, OMP_WAIT_POLICY="ACTIVE", OPENBLAS_CORETYPE="Haswell")
    assert out["changed"] == []
    assert out["core"] == "Haswell"
    assert spin is None or spin > 0
