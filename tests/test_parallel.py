"""Data-parallel training (lrcn_native/parallel.py): P ranks with batch B train as one rank with batch P·B,
snapshots resume across rank counts, only rank 0 writes and logs, a stalled or killed rank ends the run, the
data layers' striding of their stream, and the GPU launcher's failure handling.

The multi-process tests run ``mpiexec -n 2`` (the ``mpi`` extra: mpi4py and an MPI) on small HDF5 nets, each
run a second or two; they skip without mpi4py or mpiexec. NCCL tests need GPUs (benchmarks/gpu_check.sh).
"""
import contextlib
import logging
import os
import shutil
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from PIL import Image

import lrcn_native as caffe
from lrcn_native import parallel
from lrcn_native.proto.text import parse
from util import write_videos

ROOT = os.path.dirname(os.path.dirname(caffe.__file__))  # the lrcn_native these tests import


def _has_mpi():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return shutil.which("mpiexec") is not None


needs_mpi = pytest.mark.skipif(not _has_mpi(), reason="needs mpi4py and mpiexec: pip install 'lrcn_native[mpi]'")
needs_nccl = pytest.mark.skipif(not parallel.has_nccl(), reason="needs a CUDA build, a GPU and cupy with NCCL "
                                                                "(pip install 'lrcn_native[nccl]')")

# Two ranks sum their gradients (each the mean over its B rows) and halve the sum; one rank averages all 2B rows
# in one GEMM. The same numbers, summed in another order: float32 rounding differs by a few ulps per step, and
# 8 steps of momentum SGD on weights of magnitude < 1 keep the difference below 1e-6 (measured: ~6e-8).
ATOL = 1e-6
CLIP = 1.2  # clip_gradients: clips 2 of the 8 iterations below (with all clipped, any gradient scale passes)


def _env(**extra):
    """This environment, importing these tests' lrcn_native; a collective that waits 20 s fails (not hangs)."""
    return {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "LRCN_COLLECTIVE_TIMEOUT": "20", **extra}


def _mpiexec(n, args, cwd, timeout=60, **env):
    """`mpiexec -n n python *args` → CompletedProcess (stdout and stderr text)."""
    return subprocess.run(["mpiexec", "-n", str(n), sys.executable, *args], cwd=cwd, env=_env(**env),
                          capture_output=True, text=True, timeout=timeout)


def _train(n, solver, cwd, *extra):
    return _mpiexec(n, ["-m", "lrcn_native.cli", "train", "--solver", str(solver), *extra], cwd)


@pytest.fixture
def problem(tmp_path):
    """HDF5 files of 40 rows (6 features, 3 classes), and solver(batch, max_iter, prefix) writing a small
    classifier's net (two of its layers share their weights) and solver (shuffled data, momentum, weight decay,
    clipping, iter_size 2)."""
    rng = np.random.default_rng(0)
    files = []
    for k in range(2):
        files.append(tmp_path / f"d{k}.h5")
        with h5py.File(files[-1], "w") as f:
            f["data"] = rng.standard_normal((20, 6)).astype(np.float32)
            f["label"] = rng.integers(0, 3, 20).astype(np.float32)
    (tmp_path / "list.txt").write_text("".join(f"{f}\n" for f in files))

    def solver(batch, max_iter, prefix, clip=CLIP):
        net = tmp_path / f"net{batch}.prototxt"
        net.write_text(f'''name: "p"
layer {{ name: "data" type: "HDF5Data" top: "data" top: "label"
  hdf5_data_param {{ source: "{tmp_path}/list.txt" batch_size: {batch} shuffle: true }} }}
layer {{ name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1"
  inner_product_param {{ num_output: 5 weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "relu" type: "ReLU" bottom: "ip1" top: "ip1" }}
layer {{ name: "sa" type: "InnerProduct" bottom: "ip1" top: "sa" param {{ name: "shared" }}
  inner_product_param {{ num_output: 5 bias_term: false weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "sb" type: "InnerProduct" bottom: "sa" top: "sb" param {{ name: "shared" }}
  inner_product_param {{ num_output: 5 bias_term: false weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "ip2" type: "InnerProduct" bottom: "sb" top: "ip2"
  inner_product_param {{ num_output: 3 weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }}
''')
        path = tmp_path / f"solver{batch}_{max_iter}_{os.path.basename(prefix)}.prototxt"
        path.write_text(f'net: "{net}" base_lr: 0.1 momentum: 0.9 weight_decay: 0.01 lr_policy: "fixed" '
                        f'clip_gradients: {clip} iter_size: 2 max_iter: {max_iter} display: 1 snapshot: 4 '
                        f'snapshot_prefix: "{prefix}" random_seed: 1 solver_mode: CPU\n')
        return path
    return solver


def _weights(prefix, it, batch, tmp_path):
    net = caffe.Net(str(tmp_path / f"net{batch}.prototxt"), caffe.TEST, weights=f"{prefix}_iter_{it}.caffemodel")
    return {name: [b.data.copy() for b in blobs] for name, blobs in net.params.items()}


def _assert_close(a, b):
    assert a.keys() == b.keys()
    for name in a:
        for x, y in zip(a[name], b[name]):
            np.testing.assert_allclose(x, y, rtol=0, atol=ATOL, err_msg=name)


def _reference(problem, tmp_path):
    """One process, batch 8, 8 iterations (snapshots at 4 and 8), in this process."""
    prefix = tmp_path / "ref"
    caffe.get_solver(str(problem(8, 8, prefix))).solve()
    return prefix


@needs_mpi
@pytest.mark.parametrize("overlap", ["buckets of one blob", "layer_wise_reduce: false"])
def test_two_ranks_with_batch_b_train_as_one_with_2b_and_only_rank_0_writes_and_logs(problem, tmp_path, overlap):
    """Overlapped, a bucket per parameter blob, each sent once the last layer using it is done (the shared
    weights: after 'sa'); or every bucket after backward."""
    ref = _reference(problem, tmp_path)
    solver = problem(4, 8, "snap/two")  # relative: each rank's working directory
    if overlap.startswith("layer_wise_reduce"):
        solver.write_text(solver.read_text() + overlap + "\n")
    a, b = tmp_path / "rank0", tmp_path / "rank1"
    (a / "snap").mkdir(parents=True)
    b.mkdir()
    cmd = [sys.executable, "-m", "lrcn_native.cli", "train", "--solver", str(solver)]
    out = subprocess.run(["mpiexec", "-n", "1", "-wdir", str(a), *cmd, ":", "-n", "1", "-wdir", str(b), *cmd],
                         env=_env(LRCN_BUCKET_BYTES="1"), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    _assert_close(_weights(a / "snap/two", 8, 4, tmp_path), _weights(ref, 8, 8, tmp_path))
    assert sorted(os.listdir(a / "snap")) == sorted(f"two_iter_{i}.{ext}" for i in (4, 8)
                                                  for ext in ("caffemodel", "solverstate", "runstate.json"))
    assert os.listdir(b) == []  # rank 1 wrote nothing
    for it in range(8):  # each iteration's display line once: rank 1 logs no INFO
        assert out.stderr.count(f"] Iteration {it} (") == 1
    assert out.stderr.count("Optimization Done.") == 1


@needs_mpi
@pytest.mark.parametrize("first,second", [(2, 1), (1, 2)])
def test_snapshot_resumes_on_another_number_of_ranks(problem, tmp_path, first, second):
    """Iterations 0-4 on `first` ranks, 4-8 on `second`: the weights of an uninterrupted one-rank run."""
    ref = _reference(problem, tmp_path)
    half = tmp_path / "half"
    if first == 1:
        half = ref  # its iteration-4 snapshot
    else:
        assert _train(first, problem(8 // first, 4, half), tmp_path).returncode == 0
        _assert_close(_weights(half, 4, 4, tmp_path), _weights(ref, 4, 8, tmp_path))
    rest = tmp_path / "rest"
    out = _train(second, problem(8 // second, 8, rest), tmp_path, "--snapshot", f"{half}_iter_4.solverstate")
    assert out.returncode == 0, out.stderr
    _assert_close(_weights(rest, 8, 8 // second, tmp_path), _weights(ref, 8, 8, tmp_path))


_STALL = """
import os, signal, sys
import lrcn_native as caffe
solver = caffe.SGDSolver(sys.argv[1])
solver.step(2)  # snapshot: 2 writes <prefix>_iter_2
if caffe.solver_rank() == 1:
    os.kill(os.getpid(), getattr(signal, sys.argv[2]))
solver.step(2)
"""


@needs_mpi
def test_a_stalled_rank_ends_the_run_at_the_timeout_naming_it(problem, tmp_path):
    solver = problem(4, 8, tmp_path / "st")
    solver.write_text(solver.read_text().replace("snapshot: 4", "snapshot: 2"))
    (tmp_path / "stall.py").write_text(_STALL)
    t = time.monotonic()
    out = _mpiexec(2, ["stall.py", str(solver), "SIGSTOP"], tmp_path, timeout=60, LRCN_COLLECTIVE_TIMEOUT="2")
    assert out.returncode != 0
    assert time.monotonic() - t < 30  # 2 s of timeout, plus start-up
    assert ("gradient all-reduce of iteration 2 did not complete within 2 s (LRCN_COLLECTIVE_TIMEOUT): rank(s) 1 "
            "did not reach it") in out.stderr
    _weights(tmp_path / "st", 2, 4, tmp_path)  # the last snapshot is whole


@needs_mpi
def test_a_killed_rank_ends_the_run_at_once(problem, tmp_path):
    """mpiexec (MPICH's Hydra) kills every rank when one dies; the collective timeout is not needed."""
    solver = problem(4, 8, tmp_path / "st")
    (tmp_path / "stall.py").write_text(_STALL)
    t = time.monotonic()
    out = _mpiexec(2, ["stall.py", str(solver), "SIGKILL"], tmp_path, timeout=60, LRCN_COLLECTIVE_TIMEOUT="300")
    assert out.returncode != 0
    assert time.monotonic() - t < 30


@needs_mpi
def test_an_error_on_one_rank_ends_every_rank(problem, tmp_path):
    """An exception on rank 1 only: its message, and no wait for the collective timeout."""
    code = (f"import lrcn_native as caffe\n"
            f"solver = caffe.SGDSolver({str(problem(4, 8, tmp_path / 'e'))!r})\n"
            f"solver.step(2)\n"
            f"if caffe.solver_rank() == 1: raise RuntimeError('failed on purpose')\n"
            f"solver.step(2)\n")
    t = time.monotonic()
    out = _mpiexec(2, ["-c", code], tmp_path, timeout=60, LRCN_COLLECTIVE_TIMEOUT="300")
    assert out.returncode != 0 and time.monotonic() - t < 30
    assert "rank 1: RuntimeError: failed on purpose; aborting all 2 ranks" in out.stderr


@needs_mpi
def test_a_signal_to_one_rank_stops_every_rank_after_the_same_iteration(problem, tmp_path):
    """Rank 1 gets SIGTERM during iteration 3, after its gradients left: the request travels with iteration 4's,
    so both ranks stop after iteration 4 and rank 0 snapshots there."""
    solver = problem(4, 1000, tmp_path / "sig")
    code = (f"import os, signal, lrcn_native as caffe\n"
            f"solver = caffe.SGDSolver({str(solver)!r})\n"
            f"def late():\n"
            f"    if caffe.solver_rank() == 1 and solver.iter == 3: os.kill(os.getpid(), signal.SIGTERM)\n"
            f"solver.add_callback(lambda: None, late)\n"
            f"solver.solve()\n"
            f"print('rank', caffe.solver_rank(), 'stopped at', solver.iter)\n")
    out = _mpiexec(2, ["-c", code], tmp_path)
    assert out.returncode == 0, out.stderr
    assert sorted(out.stdout.split("\n")[:2]) == ["rank 0 stopped at 5", "rank 1 stopped at 5"]
    assert sorted(p.name for p in tmp_path.glob("sig_iter_*")) == [  # 4: the solver's snapshot interval
        f"sig_iter_{i}.{ext}" for i in (4, 5) for ext in ("caffemodel", "runstate.json", "solverstate")]


@needs_mpi
def test_rank_0_testing_longer_than_the_timeout_keeps_the_others_waiting(problem, tmp_path):
    """Rank 0 tests alone (3 s, at iteration 0) while rank 1 waits in the first all-reduce with a 1.5 s
    timeout: rank 0's heartbeats during the test keep rank 1 from aborting."""
    (tmp_path / "slow.py").write_text("import time\nimport lrcn_native as caffe\n\n\n"
                                      "class Sleep(caffe.Layer):\n"
                                      "    def setup(self, bottom, top): pass\n"
                                      "    def reshape(self, bottom, top): top[0].reshape(*bottom[0].shape)\n"
                                      "    def forward(self, bottom, top):\n"
                                      "        time.sleep(0.5)\n"
                                      "        top[0].data[...] = bottom[0].data\n"
                                      "    def backward(self, top, propagate_down, bottom): pass\n")
    solver = problem(4, 2, tmp_path / "t")
    solver.write_text(solver.read_text() + "test_iter: 6 test_interval: 100\n")
    with open(tmp_path / "net4.prototxt", "a") as f:
        f.write('layer { name: "slow" type: "Python" bottom: "ip2" top: "slow" python_param { module: "slow" '
                'layer: "Sleep" } include { phase: TEST } }\n')
    out = _mpiexec(2, ["-m", "lrcn_native.cli", "train", "--solver", str(solver)], tmp_path,
                   LRCN_COLLECTIVE_TIMEOUT="1.5", PYTHONPATH=f"{ROOT}{os.pathsep}{tmp_path}")
    assert out.returncode == 0, out.stderr
    assert "Test net output #0: loss" in out.stderr


# --- the data layers' striding, in this process ------------------------------------------------------------
@contextlib.contextmanager
def _as_rank(rank, count):
    saved = dict(parallel._state)
    parallel._state.update(rank=rank, count=count)
    try:
        yield
    finally:
        parallel._state.clear()
        parallel._state.update(saved)


def _batches(make, rank, count, n=3):
    """n batches of the net make() builds as rank `rank` of `count` (seed 7), and its final data states."""
    with _as_rank(rank, count):
        caffe.set_random_seed(7)
        net = make()
        out = [{k: v.copy() for k, v in net.forward().items()} | {k: net.blobs[k].data.copy() for k in net.blobs}
               for _ in range(n)]
        return out, [layer.data_state() for layer in net.layers if hasattr(layer, "data_state")]


def _check_strided(make, batch, rows_of):
    """Ranks 0 and 1 of 2 with batch B read rows rows_of(0) and rows_of(1) of one rank's batch 2B, batch after
    batch, and end in the same (global) reading state."""
    single, state = _batches(lambda: make(2 * batch), 0, 1)
    for rank in (0, 1):
        mine, mine_state = _batches(lambda: make(batch), rank, 2)
        for one, part in zip(single, mine):
            for name in one:
                np.testing.assert_array_equal(part[name], rows_of(one[name], rank), err_msg=f"{name} rank {rank}")
        assert mine_state == state


def test_image_data_strides_with_shuffle_random_crops_and_mirrors(tmp_path):
    rng = np.random.default_rng(0)
    lines = []
    for k in range(7):  # sizes differ, so a skipped image's crop draws need its size
        Image.fromarray(rng.integers(0, 256, (7 + k % 3, 8 + k % 2, 3), dtype=np.uint8)).save(tmp_path / f"{k}.png")
        lines.append(f"{k}.png {k}")
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")

    def make(batch):
        return caffe.Net(parse(f'layer {{ name: "d" type: "ImageData" top: "data" top: "label" transform_param {{ '
                               f'crop_size: 5 mirror: true }} image_data_param {{ source: "{tmp_path}/list.txt" '
                               f'root_folder: "{tmp_path}/" batch_size: {batch} shuffle: true }} }}', "i.prototxt"),
                         caffe.TRAIN)
    _check_strided(make, 2, lambda a, r: a[r::2])


@pytest.mark.parametrize("encoded", [False, True])
def test_lmdb_data_strides_with_random_crops_and_mirrors(tmp_path, encoded):
    pytest.importorskip("lmdb", reason="the Data layer needs the lmdb extra")
    from lrcn_native.data.imageset import convert_imageset
    rng = np.random.default_rng(1)
    lines = []
    for k in range(7):  # sizes differ, so a skipped datum's crop draws need its size (from the header if encoded)
        Image.fromarray(rng.integers(0, 256, (7 + k % 3, 8 + k % 2, 3), dtype=np.uint8)).save(tmp_path / f"{k}.png")
        lines.append(f"{k}.png {k}")
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    convert_imageset(f"{tmp_path}/", tmp_path / "list.txt", tmp_path / "db", encoded=encoded)

    def make(batch):
        return caffe.Net(parse(f'layer {{ name: "d" type: "Data" top: "data" top: "label" transform_param {{ '
                               f'crop_size: 5 mirror: true }} data_param {{ source: "{tmp_path}/db" backend: LMDB '
                               f'batch_size: {batch} }} }}', "d.prototxt"), caffe.TRAIN)
    _check_strided(make, 2, lambda a, r: a[r::2])


def test_sequence_data_strides_its_clips(tmp_path):
    listing = write_videos(tmp_path / "frames", [10, 11, 12], size=(24, 32))
    T = 3

    def make(batch):
        return caffe.Net(parse(f'layer {{ name: "c" type: "SequenceData" top: "data" top: "label" sequence_data_param '
                               f'{{ source: "{listing}" root_folder: "{tmp_path}/frames/" new_height: 24 new_width: 32 '
                               f'crop_size: 20 frames: {T} buffer_size: {batch} }} }}', "s.prototxt"), caffe.TRAIN)

    def clips_of(a, r):  # time-major rows t·N + n: clip n of rank r is clip 2n + r
        return a.reshape(T, -1, *a.shape[1:])[:, r::2].reshape(-1, *a.shape[1:])
    _check_strided(make, 2, clips_of)


def test_dummy_data_with_a_random_filler_strides_its_rows():
    def make(batch):
        return caffe.Net(parse(f'layer {{ name: "x" type: "DummyData" top: "x" dummy_data_param {{ '
                               f'shape {{ dim: {batch} dim: 3 }} data_filler {{ type: "gaussian" std: 2 }} }} }}',
                               "d.prototxt"), caffe.TRAIN)
    _check_strided(make, 4, lambda a, r: a[r::2])


def test_test_nets_are_not_strided(tmp_path):
    listing = tmp_path / "l.txt"
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f["x"] = np.arange(8, dtype=np.float32)[:, None]
    listing.write_text(f"{tmp_path / 'a.h5'}\n")
    with _as_rank(1, 2):
        net = caffe.Net(parse(f'layer {{ name: "d" type: "HDF5Data" top: "x" hdf5_data_param {{ source: "{listing}" '
                              f'batch_size: 3 }} }}', "h.prototxt"), caffe.TEST)
        np.testing.assert_array_equal(net.forward()["x"].ravel(), [0, 1, 2])


# --- pycaffe's API and the per-GPU launcher ------------------------------------------------------------------
def test_solver_count_and_rank_keep_their_meaning():
    assert (caffe.solver_count(), caffe.solver_rank()) == (1, 0)
    with _as_rank(0, 1):
        caffe.set_solver_count(4)
        caffe.set_solver_rank(3)
        assert (caffe.solver_count(), caffe.solver_rank(), parallel.root_solver()) == (4, 3, False)
        with pytest.raises(ValueError, match="ranks are 0..3"):
            caffe.set_solver_rank(4)
    with pytest.raises(ValueError, match=">= 1"):
        caffe.set_solver_count(0)


def test_launcher_stops_the_others_and_names_the_failed_rank(caplog):
    code = ("import os, sys, time\n"
            "r = int(os.environ['LRCN_SOLVER_RANK'])\n"
            "assert os.environ['LRCN_SOLVER_COUNT'] == '3' and os.environ['LRCN_GPUS'] == '4,5,6'\n"
            "time.sleep(0.5) if r == 1 else time.sleep(120)\n"
            "sys.exit(3)\n")
    t = time.monotonic()
    with caplog.at_level(logging.ERROR, "lrcn_native"):
        assert parallel.launch([sys.executable, "-c", code], [4, 5, 6], poll=0.05) == 3
    assert time.monotonic() - t < 60  # not the others' 120 s
    assert "rank 1 (GPU 5) exited with code 3: stopping the other 2 process(es)" in caplog.text


def test_launcher_returns_0_when_all_succeed():
    assert parallel.launch([sys.executable, "-c", "pass"], [0, 1], poll=0.05) == 0


@pytest.mark.skipif(parallel.has_nccl(), reason="checks the message given without NCCL")
def test_several_gpus_without_nccl_say_what_to_install(problem, tmp_path, capsys):
    from lrcn_native import cli
    assert cli.main(["train", "--solver", str(problem(4, 8, tmp_path / "g")), "--gpu", "0,1"]) == 1
    err = capsys.readouterr().err
    assert "lrcn_native[nccl]" in err or "no CUDA device" in err


@needs_nccl
def test_nccl_on_one_gpu_trains_as_without_it(problem, tmp_path):
    """pycaffe's NCCL flow (python/train.py) with one process: the all-reduce of one rank leaves the diffs."""
    caffe.set_mode_gpu()
    try:
        plain = caffe.get_solver(str(problem(8, 8, tmp_path / "plain")))
        plain.step(4)
        with _as_rank(0, 1):
            solver = caffe.get_solver(str(problem(8, 8, tmp_path / "nccl")))
            nccl = caffe.NCCL(solver, caffe.NCCL.new_uid())
            nccl.bcast()
            solver.add_callback(nccl)
            solver.net.after_backward(nccl)  # as pycaffe's train.py does with layer_wise_reduce
            solver.step(4)
        for a, b in zip(plain.net.learnable_params, solver.net.learnable_params):
            np.testing.assert_allclose(a.data, b.data, rtol=0, atol=ATOL)
    finally:
        caffe.set_mode_cpu()


@needs_nccl
def test_two_gpus_train_as_one_with_twice_the_batch(problem, tmp_path):
    from lrcn_native.backend import K
    if K.device_count() < 2:
        pytest.skip("needs 2 GPUs")
    ref = tmp_path / "one"
    assert subprocess.run([sys.executable, "-m", "lrcn_native.cli", "train", "--solver", str(problem(8, 8, ref)),
                           "--gpu", "0"], env=_env(), cwd=tmp_path, timeout=300).returncode == 0
    two = tmp_path / "two"
    assert subprocess.run([sys.executable, "-m", "lrcn_native.cli", "train", "--solver", str(problem(4, 8, two)),
                           "--gpu", "0,1"], env=_env(), cwd=tmp_path, timeout=300).returncode == 0
    _assert_close(_weights(two, 8, 4, tmp_path), _weights(ref, 8, 8, tmp_path))
