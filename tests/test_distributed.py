"""Rank and size from the launcher's environment (distributed.world)."""
import pytest

from lrcn_native import distributed
from util import run_python


def test_one_process_never_imports_mpi():
    out = run_python("import sys; from lrcn_native.distributed import world; w = world(); "
                     "print(w.rank, w.size, w.comm, 'mpi4py' in sys.modules)", timeout=60).stdout
    assert out.split() == ["0", "1", "None", "False"]


@pytest.mark.parametrize("rank_var,size_var", distributed._LAUNCHER_VARIABLES)
def test_launched_size_reads_each_launcher(monkeypatch, rank_var, size_var):
    for r, s in distributed._LAUNCHER_VARIABLES:
        monkeypatch.delenv(r, raising=False)
        monkeypatch.delenv(s, raising=False)
    assert distributed.launched_size() == 1
    monkeypatch.setenv(rank_var, "1")
    monkeypatch.setenv(size_var, "4")
    assert distributed.launched_size() == 4
    monkeypatch.setenv(size_var, "four")
    with pytest.raises(RuntimeError, match=size_var):
        distributed.launched_size()
