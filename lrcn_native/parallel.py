"""Data-parallel training (Caffe 1.0's parallel.cpp and pycaffe's NCCL): P solvers, one per process, each
with the whole net, train as one solver with P times the batch.

    mpiexec -n 4 lrcn train --solver solver.prototxt         # CPU processes, gradients over MPI
    lrcn train --solver solver.prototxt --gpu 0,1,2,3        # one process per GPU, gradients over NCCL

What every rank does (rank r of P):
- builds the train net (test nets only on rank 0); at the first step, and after a restore, rank 0's weights,
  solver history, iteration and run state (generator, data layers' reading positions) are broadcast, so every
  rank starts from rank 0's state (only rank 0 reads a snapshot);
- its TRAIN data layers stride their stream (``data_shard``): item i of the global stream goes to rank i mod P,
  so the P batches of an iteration hold exactly the items one rank with batch P·B would read, and every rank
  keeps the *global* reading position (rank 0's snapshot resumes on any number of ranks);
- after backward, before the update, parameter diffs are summed over the ranks and scaled by 1/P (Caffe's
  NCCL::on_gradients_ready), so clipping, the iter_size normalisation, weight decay and the update see the
  averaged gradient on every rank, in Caffe's order; with iter_size > 1 the reduction follows the last pass;
- stop and snapshot requests (signals, to any rank) travel with the gradients, so all ranks act on them after
  the same iteration (the first whose gradients carried them);
- dropout masks differ between ranks (the rank is mixed into each mask's seed).
- only rank 0 logs (INFO), tests and snapshots; the other ranks log warnings and errors, prefixed "rank r:".

Overlap (the solver's ``layer_wise_reduce``, default true as in Caffe): parameter diffs are reduced in buckets
of about ``BUCKET_BYTES``, in backward order; during the last backward pass of an iteration a bucket's
non-blocking all-reduce starts as soon as the last layer using its parameters has run backward (MPI: a thread
keeps them progressing while the kernels run), and the update waits for all of them. With
``layer_wise_reduce: false`` every bucket starts after backward.

Nothing hangs: every collective is non-blocking and polled against a deadline (``timeout``, default
LRCN_COLLECTIVE_TIMEOUT or 600 s). Over MPI each rank also posts a small arrival note to rank 0 (and rank 0 to
every rank) per round, so a rank that times out can name who did not arrive; it logs that and aborts the whole
job (MPI_Abort). While rank 0 tests alone, it sends a heartbeat per test batch (at most one a second) and the
others' deadline restarts at each. An exception that ends one rank aborts the job too. mpiexec itself (MPICH's
Hydra, Open MPI) kills every rank as soon as one process exits abnormally (killed, crashed), so a dead rank
ends the job at once; a stalled one (stopped, stuck in I/O) ends it at the deadline. Snapshots are atomic, so
the last one stays valid. NCCL cannot name the missing rank (and has no heartbeat: its timeout must exceed
rank 0's longest test pass); ``launch`` names one that exited.

The engines share one interface (``_Engine``: bcast, bcast_object, allreduce, test, wait, abort); MPI's is
mpi4py (the ``mpi`` extra), NCCL's is cupy.cuda.nccl (the ``nccl`` extra), used by ``lrcn train --gpu 0,1``
(``launch`` starts one process per GPU and stops them all, naming the rank, when one fails) and by
pycaffe's ``caffe.NCCL(solver, uid)``.
"""
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time

import numpy as np

from .layer import TRAIN

log = logging.getLogger("lrcn_native")

# Gradient bucket size: large enough that per-message latency is small next to bandwidth (LRCN_BUCKET_BYTES).
BUCKET_BYTES = int(os.environ.get("LRCN_BUCKET_BYTES", 4 << 20))
PROGRESS_PERIOD = 5e-4  # seconds between MPI progress calls while backward runs (MpiEngine.keep_progressing)
DEFAULT_TIMEOUT = 600.0  # seconds a collective may wait for the slowest rank before the job is aborted
_state = {"count": 1, "rank": 0, "multiprocess": False}
# What `launch` hands each process it starts: its rank, the process count, the GPU ids and the NCCL id (hex).
_RANK_ENV, _COUNT_ENV, _GPUS_ENV, _UID_ENV = "LRCN_SOLVER_RANK", "LRCN_SOLVER_COUNT", "LRCN_GPUS", "LRCN_NCCL_UID"


# --- pycaffe's process-wide solver count and rank (Caffe::solver_count, ...) -------------------------------
def solver_count():
    return _state["count"]


def set_solver_count(count):
    if int(count) < 1:
        raise ValueError(f"set_solver_count({count}): the solver count is >= 1")
    _state["count"] = int(count)


def solver_rank():
    return _state["rank"]


def set_solver_rank(rank):
    if not 0 <= int(rank) < _state["count"]:
        raise ValueError(f"set_solver_rank({rank}): ranks are 0..{_state['count'] - 1} (set_solver_count first)")
    _state["rank"] = int(rank)


def set_multiprocess(flag):
    """pycaffe's set_multiprocess: the solvers are separate processes (always so here: no solver threads)."""
    _state["multiprocess"] = bool(flag)


def root_solver():
    return _state["rank"] == 0


def has_nccl():
    """Whether NCCL is usable: this build has CUDA, and cupy with its NCCL bindings imports."""
    from .backend import K
    if not K.has_cuda:
        return False
    try:
        from cupy.cuda import nccl  # noqa: F401
    except ImportError:
        return False
    return True


def data_shard(phase):
    """(rank, count) by which a data layer of ``phase`` strides its stream: item i of each global batch goes
    to rank i mod count. TEST nets read everything (they run on rank 0 only, as Caffe 1.0)."""
    return (_state["rank"], _state["count"]) if phase == TRAIN else (0, 1)


def strided(phase, batch_size):
    """For each of the solver_count·batch_size items of one global batch, whether this rank keeps it: a data
    layer reads (or skips, advancing its state identically) each item, keeping those marked True."""
    rank, count = data_shard(phase)
    return [i % count == rank for i in range(batch_size * count)]


def join_world():
    """Under an MPI launch of several processes: solver count and rank from COMM_WORLD, INFO logging only on
    rank 0 (the others' warnings and errors prefixed). Returns the MPI engine, or None for one process."""
    from .distributed import world
    if "engine" not in _state:
        w = world()
        _state["engine"] = None if w.size == 1 else MpiEngine(w.comm)
        if w.size > 1:
            set_solver_count(w.size)
            set_solver_rank(w.rank)
            set_multiprocess(True)
            log_only_on_root()
            _abort_on_uncaught_exception(_state["engine"])
    return _state["engine"]


def abort(message):
    """Ends every rank of this run with ``message`` (logged here): MPI_Abort under mpiexec, else this process
    exits and `launch` stops the others."""
    engine = _state.get("engine")
    if engine is not None:
        engine.fail(message)
    log.error("%s; stopping", message)
    os._exit(1)


def _abort_on_uncaught_exception(engine):
    """An exception that ends one rank's script ends the job (mpi4py's `python -m mpi4py` does the same):
    otherwise the other ranks would wait for it until the collective timeout."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        previous(kind, value, tb)
        engine.fail(f"{kind.__name__}: {value}")
    sys.excepthook = hook


def log_only_on_root():
    """Only rank 0 logs INFO; warnings and errors of every rank are prefixed with "rank r: "."""
    if getattr(log, "_lrcn_rank_filter", False):
        return
    rank = _state["rank"]

    def keep(record):
        if record.levelno < logging.WARNING:
            return rank == 0
        record.msg = f"rank {rank}: {record.msg}"
        return True
    log.addFilter(keep)
    log._lrcn_rank_filter = True


def _timeout():
    value = os.environ.get("LRCN_COLLECTIVE_TIMEOUT", DEFAULT_TIMEOUT)
    try:
        if float(value) > 0:
            return float(value)
    except ValueError:
        pass
    raise ValueError(f"LRCN_COLLECTIVE_TIMEOUT={value!r}: give a positive number of seconds")


# --- engines ---------------------------------------------------------------------------------------------
class _Engine:
    """A communication engine as data-parallel training uses it. ``allreduce(buf)`` starts an in-place sum
    and returns a handle; ``wait(handles, what)`` polls them against the deadline and aborts the job with a
    message naming ``what`` (and the ranks that did not arrive, where the engine can tell) when it passes.
    Its buffers live on the device when ``on_device`` (NCCL), else on the host (MPI: a GPU-mode rank's
    diffs are staged through the host by the Blobs' synced memory)."""
    name, on_device = "", False

    def __init__(self, rank, size, timeout=None):
        self.rank, self.size = rank, size
        self.timeout = _timeout() if timeout is None else float(timeout)

    def begin(self, what):
        """Starts a round of collectives (one per iteration, one for the broadcast at start)."""

    def heartbeat(self):
        """Rank 0, busy alone (testing): tells the others, whose wait for it then starts its deadline again."""

    def keep_progressing(self, handles):
        """Makes the operations ``handles()`` lists advance while this thread computes (until stop_progressing)."""

    def stop_progressing(self):
        pass

    def _heard(self):
        """Whether a heartbeat of rank 0 arrived since the last call."""
        return False

    def wait(self, handles, what):
        deadline, pause = time.monotonic() + self.timeout, 1e-5
        while not self.test(handles):
            if self._heard():
                deadline = time.monotonic() + self.timeout
            elif time.monotonic() > deadline:
                self.fail(f"{self.name} {what} did not complete within {self.timeout:g} s "
                          f"(LRCN_COLLECTIVE_TIMEOUT): {self.absent()}")
            time.sleep(pause)
            pause = min(2 * pause, 1e-3)  # latency while short, little CPU while long

    def absent(self):
        return "a rank died or stalled"

    def fail(self, message):
        """Logs ``message`` on this rank and ends every rank (the last snapshot stays as it was)."""
        log.error("%s; aborting all %d ranks", message, self.size)
        sys.stdout.flush()
        sys.stderr.flush()  # the abort ends this process without Python's exit
        time.sleep(0.5)  # mpiexec forwards output asynchronously; the abort tears its forwarding down
        self.abort()

    def bcast_object(self, obj):
        """Rank 0's picklable ``obj`` on every rank: its length, then its bytes."""
        data = pickle.dumps(obj) if self.rank == 0 else b""
        n = self.array([len(data)], np.int64)
        self.bcast(n, "broadcast of the solver state")
        if self.rank:
            data = bytes(int(n.tolist()[0]))
        buf = self.array(np.frombuffer(data, np.uint8), np.uint8)
        self.bcast(buf, "broadcast of the solver state")
        return pickle.loads(bytes(self.to_host(buf)))

    def to_host(self, buf):
        return np.asarray(buf)


class MpiEngine(_Engine):
    """MPI through mpi4py on host (numpy) buffers."""
    name = "MPI"

    def __init__(self, comm, timeout=None):
        super().__init__(comm.Get_rank(), comm.Get_size(), timeout)
        from mpi4py import MPI
        self.MPI, self.comm = MPI, comm
        self.notes_comm = comm.Dup()  # the arrival notes and heartbeats travel apart from the data
        self.round, self.notes, self.beats, self.last_beat = 0, [], [], 0.0
        self._progress = None  # (thread, stop event) while keep_progressing runs

    def array(self, values, dtype=np.float32):
        return np.array(values, dtype)

    def empty(self, n):
        return np.empty(n, np.float32)

    def begin(self, what):
        """Arrival notes of this round: each rank to rank 0, rank 0 to each rank (tag: the round number)."""
        _Engine.wait(self, [], what)  # the previous round's notes (they complete with its collectives)
        self.round += 1
        tag, mine = 1 + self.round % 32767, np.array([self.round], np.int64)
        peers = range(1, self.size) if self.rank == 0 else [0]
        self.notes = [self.notes_comm.Isend(mine, dest=p, tag=tag) for p in peers]
        self.received = [(p, np.zeros(1, np.int64)) for p in peers]
        self.notes += [self.notes_comm.Irecv(buf, source=p, tag=tag) for p, buf in self.received]

    _BEAT = 0  # the heartbeats' tag; a round's notes have 1 + round % 32767 (MPI guarantees tags up to 32767)

    def heartbeat(self):
        now = time.monotonic()
        if self.rank != 0 or now - self.last_beat < min(1.0, self.timeout / 10):
            return
        self.last_beat = now
        self.MPI.Request.Testall(self.beats)  # completed requests turn null (false)
        beat = np.zeros(1, np.int64)
        self.beats = [r for r in self.beats if r] + [self.notes_comm.Isend(beat, dest=p, tag=self._BEAT)
                                                     for p in range(1, self.size)]

    def _heard(self):
        heard = False
        while self.rank and self.notes_comm.Iprobe(source=0, tag=self._BEAT):
            self.notes_comm.Recv(np.zeros(1, np.int64), source=0, tag=self._BEAT)
            heard = True
        return heard

    def keep_progressing(self, handles):
        """MPI advances a non-blocking collective only inside MPI calls, and backward makes none: a thread
        tests ``handles()`` every PROGRESS_PERIOD (the kernels release the GIL). Only it touches them until
        stop_progressing (MPI forbids testing one request from two threads at once)."""
        if self._progress is not None:
            return
        stop = threading.Event()

        def run():
            while not stop.wait(PROGRESS_PERIOD):
                self.MPI.Request.Testall(handles())
        thread = threading.Thread(target=run, daemon=True, name="lrcn-mpi-progress")
        thread.start()
        self._progress = thread, stop

    def stop_progressing(self):
        if self._progress is not None:
            thread, stop = self._progress
            stop.set()
            thread.join()
            self._progress = None

    def absent(self):
        self.MPI.Request.Testall(self.notes)
        missing = [p for p, buf in self.received if buf[0] != self.round]
        if self.rank == 0:
            return (f"rank(s) {', '.join(map(str, missing))} did not reach it (dead or stalled)" if missing else
                    "every rank reached it, but it did not finish (a rank stalled inside it)")
        return ("rank 0 did not reach it (dead or stalled)" if missing else
                "rank 0 reached it; another rank did not (rank 0's message names it)")

    def bcast(self, buf, what):
        self.wait([self.comm.Ibcast(buf, root=0)], what)

    def allreduce(self, buf):
        return self.comm.Iallreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM)

    def test(self, handles):
        return self.MPI.Request.Testall(list(handles) + self.notes)

    def abort(self):
        self.comm.Abort(1)


class NcclEngine(_Engine):
    """NCCL through cupy.cuda.nccl on device (cupy) buffers, on the current stream; a handle is an event
    recorded after the operation. NCCL cannot tell who did not arrive: ``launch`` names a rank that exited."""
    name, on_device = "NCCL", True
    _dtypes = {np.dtype(np.float32): "NCCL_FLOAT32", np.dtype(np.int64): "NCCL_INT64",
               np.dtype(np.uint8): "NCCL_UINT8"}

    def __init__(self, uid, rank, size, timeout=None):
        super().__init__(rank, size, timeout)
        import cupy
        from cupy.cuda import nccl
        self.cupy, self.nccl = cupy, nccl
        self.comm = nccl.NcclCommunicator(size, uid, rank)

    def array(self, values, dtype=np.float32):
        return self.cupy.array(values, dtype)

    def empty(self, n):
        return self.cupy.empty(n, self.cupy.float32)

    def _event(self):
        event = self.cupy.cuda.Event(disable_timing=True)
        event.record()
        return event

    def _args(self, buf):
        return buf.data.ptr, buf.size, getattr(self.nccl, self._dtypes[buf.dtype])

    def bcast(self, buf, what):
        ptr, n, dtype = self._args(buf)
        self.comm.bcast(ptr, n, dtype, 0, self.cupy.cuda.get_current_stream().ptr)
        self.wait([self._event()], what)

    def allreduce(self, buf):
        ptr, n, dtype = self._args(buf)
        self.comm.allReduce(ptr, ptr, n, dtype, self.nccl.NCCL_SUM, self.cupy.cuda.get_current_stream().ptr)
        return self._event()

    def test(self, handles):
        return all(e.done for e in handles)

    def to_host(self, buf):
        return self.cupy.asnumpy(buf)

    def abort(self):
        self.comm.abort()
        os._exit(1)


# --- the gradient reduction ------------------------------------------------------------------------------
class _Bucket:
    __slots__ = ("params", "offsets", "ready_at", "flat", "handle")


class DataParallel:
    """One solver's part in data-parallel training (Caffe 1.0's NCCL class): ``bcast()`` gives every rank rank
    0's state; as a solver callback (``solver.add_callback(dp)``) it averages the parameter diffs over the
    ranks before each update, launching bucket all-reduces from its net hook (``__call__``) during the last
    backward pass when ``overlap``."""

    def __init__(self, solver, engine, overlap=None, bucket_bytes=BUCKET_BYTES):
        if overlap is None:  # Caffe's SolverParameter.layer_wise_reduce (default true)
            overlap = solver.param.layer_wise_reduce
        self.solver, self.engine, self.overlap = solver, engine, overlap
        net = solver.net
        params = net.learnable_params
        # A parameter's diff is final once the first layer using it (backward runs last to first) is done.
        first_user = {}
        for i, layer in enumerate(net.layers):
            for blob in layer.blobs:
                first_user.setdefault(id(blob), i)
        order = sorted(range(len(params)), key=lambda k: -first_user[id(params[k])])
        self.buckets, bucket, size = [], None, 0
        for k in order:
            if bucket is None or size >= bucket_bytes:
                bucket, size = _Bucket(), 0
                bucket.params, bucket.offsets = [], [0]
                self.buckets.append(bucket)
            bucket.params.append(params[k])
            bucket.offsets.append(bucket.offsets[-1] + params[k].count)
            bucket.ready_at = first_user[id(params[k])]  # the smallest so far: order is descending
            size += 4 * params[k].count
        for b in self.buckets:
            b.flat, b.handle = engine.empty(b.offsets[-1]), None
        self.control = None
        self.requests = False, False  # (stop, snapshot) requested on any rank, with the last gradients
        self.wait_seconds = 0.0  # time spent waiting for the reductions after backward (the benchmark reads it)

    # pycaffe's callback protocol
    def on_start(self):
        pass

    def _launch(self, bucket):
        if bucket.handle is None and bucket.params:
            for p, lo, hi in zip(bucket.params, bucket.offsets, bucket.offsets[1:]):
                bucket.flat[lo:hi] = p.diff_at(self.engine.on_device).reshape(-1)
            bucket.handle = self.engine.allreduce(bucket.flat)

    def _in_flight(self):
        return [b.handle for b in self.buckets if b.handle is not None] + [self.control_handle]

    def _begin_round(self):
        if self.control is None:  # [stop requested, snapshot requested], summed over the ranks
            self.engine.begin(f"gradient all-reduce of iteration {self.solver.iter}")
            s = self.solver
            self.control = self.engine.array([s._stop_requested, s._snapshot_requested])
            self.control_handle = self.engine.allreduce(self.control)

    def __call__(self, i):
        """pycaffe's net hook (``solver.net.after_backward(nccl)``), after layer i's backward: in the
        iteration's last pass, starts every bucket complete by now."""
        if not (self.overlap and self.solver.last_pass):
            return
        self._begin_round()
        for b in self.buckets:
            if b.handle is None and b.ready_at >= i:
                self._launch(b)
        self.engine.keep_progressing(self._in_flight)

    def on_gradients_ready(self):
        """Sums the diffs over the ranks and scales them by 1/P; ORs the ranks' stop and snapshot requests
        (signals) into ``requests``, which the solver acts on after this iteration."""
        self._begin_round()
        for b in self.buckets:
            self._launch(b)
        t = time.perf_counter()
        self.engine.stop_progressing()
        self.engine.wait(self._in_flight(), f"gradient all-reduce of iteration {self.solver.iter}")
        self.wait_seconds += time.perf_counter() - t
        scale = np.float32(1.0 / self.engine.size)
        for b in self.buckets:
            b.handle = None
            for p, lo, hi in zip(b.params, b.offsets, b.offsets[1:]):
                diff = p.gpu_diff if self.engine.on_device else p.diff
                diff[...] = (b.flat[lo:hi] * scale).reshape(diff.shape)
        stop, snap = self.engine.to_host(self.control).tolist()
        self.control = None
        self.requests = stop > 0, snap > 0

    def bcast(self):
        """Every rank takes rank 0's weights (every blob of the train net), history, iteration and run state."""
        s, engine = self.solver, self.engine
        engine.begin("broadcast of rank 0's weights")
        blobs = {id(b): b for layer in s.net.layers for b in layer.blobs}
        for blob in list(blobs.values()) + s.history:
            data = blob.gpu_data if engine.on_device else blob.data
            engine.bcast(data.reshape(-1), "broadcast of rank 0's weights")
        state = engine.bcast_object(dict(iter=s.iter, current_step=s.current_step, run=s._run_state())
                                    if engine.rank == 0 else None)
        if engine.rank:
            s.iter, s.current_step = state["iter"], state["current_step"]
            s._set_run_state(state["run"])


class NCCL(DataParallel):
    """pycaffe's caffe.NCCL(solver, uid): this process's part (rank solver_rank() of solver_count()) in NCCL
    training; ``nccl.bcast()``, then ``solver.add_callback(nccl)``. ``uid`` is NCCL.new_uid()'s (or its hex)."""

    def __init__(self, solver, uid):
        if not has_nccl():
            raise RuntimeError("caffe.NCCL needs a CUDA build and cupy with NCCL: pip install 'lrcn_native[nccl]'")
        uid = bytes.fromhex(uid) if isinstance(uid, str) else bytes(uid)
        # cupy takes the id as NCCL's 128 C chars (signed)
        super().__init__(solver, NcclEngine(tuple(b - 256 if b > 127 else b for b in uid), solver_rank(),
                                            solver_count()))

    @staticmethod
    def new_uid():
        """A fresh NCCL unique id (bytes) for the processes of one run."""
        if not has_nccl():
            raise RuntimeError("NCCL.new_uid needs a CUDA build and cupy with NCCL: pip install 'lrcn_native[nccl]'")
        from cupy.cuda import nccl
        return bytes(b % 256 for b in nccl.get_unique_id())


# --- starting one process per GPU ------------------------------------------------------------------------
def launch(command, gpus, uid_hex="", poll=0.2, grace=10.0):
    """Runs ``command`` (a list: `lrcn train` passes its own command line) once per GPU, rank r on gpus[r] (told
    by environment variables, read by ``launched_rank``), and waits for all. When one exits with an error, the
    others are killed (their collectives could only time out) and its code is returned; the message names its
    rank and GPU. SIGINT/SIGTERM are passed on to every process (each snapshots and stops after the same
    iteration); a second one kills them."""
    procs = []
    for rank, gpu in enumerate(gpus):
        env = dict(os.environ, **{_RANK_ENV: str(rank), _COUNT_ENV: str(len(gpus)),
                                  _GPUS_ENV: ",".join(map(str, gpus)), _UID_ENV: uid_hex})
        procs.append(subprocess.Popen(command, env=env))
    received = []

    def forward(signum, frame):
        received.append(signum)
        for p in procs:
            if p.poll() is None and len(received) == 1:
                p.send_signal(signum)
            elif p.poll() is None:
                p.kill()
    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            codes = [p.poll() for p in procs]
            failed = next((r for r, c in enumerate(codes) if c not in (None, 0)), None)
            if failed is not None:
                if any(c is None for c in codes):
                    log.error("rank %d (GPU %s) exited with code %d: stopping the other %d process(es)", failed,
                              gpus[failed], codes[failed], sum(c is None for c in codes))
                for p in procs:
                    if p.poll() is None:
                        p.kill()
                for p in procs:
                    p.wait(grace)
                return codes[failed]
            if all(c == 0 for c in codes):
                return 0
            time.sleep(poll)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def launched_rank():
    """(rank, count, gpus, uid) of a process `launch` started, else None."""
    if _COUNT_ENV not in os.environ:
        return None
    gpus = [int(g) for g in os.environ[_GPUS_ENV].split(",")]
    return int(os.environ[_RANK_ENV]), int(os.environ[_COUNT_ENV]), gpus, os.environ[_UID_ENV]
