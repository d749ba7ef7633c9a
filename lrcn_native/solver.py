"""Caffe's solvers with pycaffe's API: SGD (what LRCN trains with), Nesterov, AdaGrad, RMSProp, AdaDelta, Adam.

    solver = lrcn_native.get_solver("solver.prototxt")     # or lrcn_native.SGDSolver(path)
    solver.step(100); solver.solve(resume_file=None); solver.snapshot(); solver.restore(path)

A solver reads a SolverParameter prototxt, builds the train net and the test nets (NetState from
train_state / test_state, as Caffe merges them) and runs Caffe's loop (Solver::Step). One iteration:
clear the parameter diffs; (at every test_interval) test; forward/backward iter_size times; then the
update of every learnable blob in Caffe's order — clip all diffs by their global L2 norm, divide by
iter_size, add weight decay (L2 or L1), update the type's history and the weights (csrc/sgd.h: one
fused kernel per blob, the rate and multipliers as scalars) — and the scheduled snapshot. The learning
rate follows lr_policy computed in float32 as Caffe does. Log lines are Caffe's, so its log parsers work.

Snapshots are Caffe's files, each written atomically: <prefix>_iter_N.caffemodel (or .caffemodel.h5)
and .solverstate (or .solverstate.h5; iter, current_step, history blobs), plus <prefix>_iter_N.runstate.json
(written before the solver state) with what Caffe does not keep but an exact resume needs: the state of
the random generator that fillers, dropout and data layers draw from, and the reading position of every
layer of the train and test nets that defines ``data_state()`` (a JSON-serialisable copy) and
``set_data_state(state)``, as HDF5Data and ImageData do. Python data layers without them restart where
their own code puts them. A test pass interrupted by a stop request is abandoned and the snapshot
records the state from before it, so a resumed run repeats that test pass exactly.

solve() installs signal handlers for its duration (and restores the previous ones): SIGINT/SIGTERM
finish the current iteration, snapshot and stop (a second one aborts at once without a snapshot);
SIGHUP snapshots after the current iteration and continues. ``sigint_effect`` / ``sighup_effect``
("stop", "snapshot", "none") change what SIGINT and SIGHUP do, as `caffe train`'s flags. A NaN or Inf in the loss or in a gradient
(seen in the loss and in Σ diff² over the parameters after each forward/backward, which clipping needs
anyway) stops training before the update with NonFiniteError naming the first layer and blob where it
appears: the blobs are then scanned as that pass left them, each layer's tops in forward order, then each
layer's parameter and bottom diffs in backward order (an in-place top is named by its first writer). The
weights and the last snapshot stay as they were.
"""
import contextlib
import glob
import json
import logging
import math
import os
import signal
import threading
import time

import numpy as np

from . import mode, parallel
from .backend import K
from .blob import Blob
from .fileio import atomic_write
from .layer import TEST, TRAIN
from .net import Net
from .proto.schema import validate_solver
from .proto.message import Message as PbMessage
from .proto.message import to_text_message
from .proto.text import Message, parse_file

log = logging.getLogger("lrcn_native")
f32 = np.float32

LR_POLICIES = ("fixed", "step", "exp", "inv", "multistep", "poly", "sigmoid")
SIGNAL_EFFECTS = ("stop", "snapshot", "none")  # caffe train's -sigint_effect / -sighup_effect values
# The old `solver_type` enum (SolverParameter.SolverType) and the `type` names Caffe upgrades it to.
SOLVER_TYPES = ("SGD", "NESTEROV", "ADAGRAD", "RMSPROP", "ADADELTA", "ADAM")
_TYPE_NAMES = {"SGD": "SGD", "NESTEROV": "Nesterov", "ADAGRAD": "AdaGrad", "RMSPROP": "RMSProp",
               "ADADELTA": "AdaDelta", "ADAM": "Adam"}


class NonFiniteError(FloatingPointError):
    """A NaN or Inf appeared in training; the message names the first layer and blob."""


def _g(x):
    """A number as Caffe's logs print it (C++ ostream defaults: 6 significant digits)."""
    return f"{float(x):g}"


def _finite(arr):
    """True when every element is finite (Σx² in double is finite iff all x are: |x| ≤ 3.4e38)."""
    return math.isfinite(K.dot(arr, arr))


class Solver:
    """Caffe's Solver with SGDSolver's update skeleton; subclasses give the per-blob update rule."""

    type = ""
    history_sets = 1  # history blobs per learnable blob (AdaDelta and Adam keep two)

    def __init__(self, param_file):
        param_file = _from_pb(param_file)
        if isinstance(param_file, Message):  # a Message read by parse_file keeps its file's name
            sp, self.filename = param_file, param_file.filename if os.path.isfile(param_file.filename) else None
        else:
            self.filename = os.fspath(param_file)
            sp = parse_file(self.filename)
        validate_solver(sp)
        self._param = sp
        self._read_params(sp)
        self.iter, self.current_step = 0, 0
        self.loss, self.smoothed_loss = f32(0), f32(0)
        self.test_scores = []  # (iter, test net index, {output name: [mean values]}) per test pass
        self._losses, self._callbacks, self.last_pass = [], [], False
        self._stop_requested = self._snapshot_requested = False
        self._handling_signals, self._test_interrupted = False, None
        self.sigint_effect, self.sighup_effect = "stop", "snapshot"  # Caffe's defaults; see _signal_handlers
        if sp.int("random_seed", -1) >= 0:
            mode.set_random_seed(sp.int("random_seed"))
        # Under mpiexec with several processes, this is rank r of a data-parallel run (lrcn_native/parallel.py).
        engine = parallel.join_world()
        if self.snapshot_every and parallel.root_solver():
            self._check_snapshot_prefix()
        self.net = self._train_net(sp)
        self.test_nets = self._test_nets(sp)
        for weights in sp.strs("weights"):
            for path in weights.split(","):
                log.info("Finetuning from %s", path)
                for net in [self.net] + self.test_nets:
                    net.copy_from(path)
        self._params = self.net.learnable_params
        self._lr_mult = [f32(m) for m in self.net._lr_mult]
        self._decay_mult = [f32(m) for m in self.net._decay_mult]
        self.history = [Blob(*p.shape) for _ in range(self.history_sets) for p in self._params]
        self.parallel, self._bcast_pending = None, False
        if engine is not None:
            self.use_parallel(parallel.DataParallel(self, engine))

    # --- parameters -------------------------------------------------------------------------------
    def _read_params(self, sp):
        """SolverParameter fields with caffe.proto's defaults; floats rounded to float32 as Caffe stores them."""
        def fl(name, default=0.0):
            return f32(sp.float(name, default))
        self.base_lr, self.gamma, self.power = fl("base_lr"), fl("gamma"), fl("power")
        self.momentum, self.momentum2 = fl("momentum"), fl("momentum2", 0.999)
        self.delta, self.rms_decay = fl("delta", 1e-8), fl("rms_decay", 0.99)
        self.weight_decay, self.clip_gradients = fl("weight_decay"), fl("clip_gradients", -1.0)
        self.lr_policy = sp.str("lr_policy")
        if self.lr_policy not in LR_POLICIES:
            raise sp.error("lr_policy", f"unknown learning rate policy '{self.lr_policy}' "
                                        f"(known: {', '.join(LR_POLICIES)})")
        self.stepsize, self.stepvalues = sp.int("stepsize"), sp.ints("stepvalue")
        if self.lr_policy in ("step", "sigmoid") and self.stepsize <= 0:
            raise sp.error("stepsize", f"lr_policy '{self.lr_policy}' needs stepsize > 0")
        if self.lr_policy in ("step", "exp") and self.gamma < 0:
            raise sp.error("gamma", "gamma must be >= 0")
        self.max_iter, self.iter_size = sp.int("max_iter"), sp.int("iter_size", 1)
        if self.iter_size < 1:
            raise sp.error("iter_size", "iter_size must be >= 1")
        self.regularization_type = sp.str("regularization_type", "L2")
        if self.regularization_type not in ("L1", "L2"):
            raise sp.error("regularization_type", f"unknown regularization type '{self.regularization_type}' "
                                                  "(known: L1, L2)")
        self.display, self.average_loss = sp.int("display"), max(sp.int("average_loss", 1), 1)
        self.debug_info = sp.bool("debug_info")
        self.test_interval = sp.int("test_interval")
        self.test_initialization = sp.bool("test_initialization", True)
        self.test_compute_loss = sp.bool("test_compute_loss")
        self.snapshot_every = sp.int("snapshot")
        self.snapshot_after_train = sp.bool("snapshot_after_train", True)
        self.snapshot_format = sp.enum("snapshot_format", "BINARYPROTO", ("HDF5", "BINARYPROTO"))
        if sp.bool("snapshot_diff"):
            log.warning("snapshot_diff: diffs are not written to snapshots (weights only)")
        prefix = sp.str("snapshot_prefix", "")
        if self.filename is not None:  # Caffe's UpgradeSnapshotPrefixProperty
            stem = os.path.splitext(self.filename)[0]
            if "snapshot_prefix" not in sp:
                prefix = stem
            elif os.path.isdir(prefix):
                prefix = os.path.join(prefix, os.path.basename(stem))
        self.snapshot_prefix = prefix

    def _check_snapshot_prefix(self):
        folder = os.path.dirname(os.path.abspath(self.snapshot_prefix + "_"))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise OSError(f"cannot write to snapshot prefix '{self.snapshot_prefix}': make sure that the directory "
                          f"'{folder}' exists and is writable")

    def _remove_stale_temporaries(self):
        """Removes the hidden `.<prefix>_iter_N*.<hex>.tmp` files of a snapshot a killed run was writing
        (each as large as the model); only this prefix's, so other runs' files in the folder are left."""
        folder, base = os.path.split(os.path.abspath(self.snapshot_prefix + "_"))
        for path in glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(base)}iter_*.tmp")):
            log.info("Removing %s, left by an interrupted snapshot", path)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    @property
    def param(self):
        """The solver's parameters as pycaffe's caffe_pb2.SolverParameter (a copy: changing it changes nothing)."""
        from .proto import caffe_pb2
        from .proto.message import from_text
        return from_text(caffe_pb2.SolverParameter(), self._param)

    # --- nets -------------------------------------------------------------------------------------
    def _load_net(self, value):
        """A NetParameter given inline (a Message) or as a file, found relative to the working directory as
        Caffe does, else relative to the solver file."""
        if isinstance(value, Message):
            return value
        path = value
        if not os.path.exists(path) and self.filename and not os.path.isabs(path):
            beside = os.path.join(os.path.dirname(self.filename), path)
            if os.path.exists(beside):
                path = beside
        return parse_file(path)

    @staticmethod
    def _state(net_msg, state):
        """Caffe's NetState merge: the net's own state, then the solver's train_state / test_state."""
        own = net_msg.msg("state")
        level = state.int("level") if "level" in state else own.int("level", 0)
        return level, tuple(own.strs("stage")) + tuple(state.strs("stage"))

    def _train_net(self, sp):
        fields = [f for f in ("train_net_param", "train_net", "net_param", "net") if f in sp]
        if len(fields) != 1:
            raise (sp.error(fields[1], "the solver must not specify more than one of train_net_param, train_net, "
                                       "net_param, net") if fields else
                   sp.error("net", "the solver must specify a train net with one of train_net_param, train_net, "
                                   "net_param, net"))
        value = sp.get(fields[0])
        log.info("Creating training net %s", f"specified in {fields[0]}" if isinstance(value, Message) else
                 f"from {fields[0]} file: {value}")
        msg = self._load_net(value)
        level, stages = self._state(msg, sp.msg("train_state"))
        return Net(msg, TRAIN, level=level, stages=stages)

    def _test_nets(self, sp):
        """Caffe's InitTestNets: the test_net_param nets, then the test_net files, then instances of the
        generic net (net / net_param) for the remaining test_iter entries."""
        specific = sp.all("test_net_param") + sp.all("test_net")
        self.test_iter, states = sp.ints("test_iter"), sp.msgs("test_state")
        generic = sp.get("net_param", sp.get("net"))
        n_generic = len(self.test_iter) - len(specific)
        if n_generic < 0 or (n_generic and generic is None):
            raise sp.error("test_iter", f"{len(self.test_iter)} test_iter values for {len(specific)} test nets"
                           + (" (and the generic net)" if generic is not None else ""))
        if states and len(states) != len(self.test_iter):
            raise sp.error("test_state", f"{len(states)} test_state entries for {len(self.test_iter)} test_iter "
                                         "values")
        if n_generic and "test_interval" not in sp:
            raise sp.error("test_iter", "testing the generic net needs test_interval")
        if not parallel.root_solver():
            return []  # only rank 0 tests (Caffe 1.0)
        nets = []
        for i, value in enumerate(specific + [generic] * n_generic):
            msg = self._load_net(value)
            level, stages = self._state(msg, states[i] if states else Message())
            log.info("Creating test net (#%d)", i)
            nets.append(Net(msg, TEST, level=level, stages=stages))
        return nets

    def share_weights(self, net):
        """Makes `net`'s layers use the train net's weights for layers of the same name (Caffe's
        ShareTrainedLayersWith): the data memory is shared, not copied."""
        net.share_with(self.net)

    # --- learning rate and update -----------------------------------------------------------------
    def learning_rate(self):
        """The rate at self.iter, computed in float32 as Caffe's GetLearningRate (which also advances
        current_step for step and multistep)."""
        it, base = f32(self.iter), self.base_lr
        policy = self.lr_policy
        with np.errstate(over="ignore", divide="ignore"):
            if policy == "fixed":
                return base
            if policy == "step":
                self.current_step = self.iter // self.stepsize
                return base * self.gamma ** f32(self.current_step)
            if policy == "exp":
                return base * self.gamma ** it
            if policy == "inv":
                return base * (f32(1) + self.gamma * it) ** -self.power
            if policy == "multistep":
                if self.current_step < len(self.stepvalues) and self.iter >= self.stepvalues[self.current_step]:
                    self.current_step += 1
                    log.info("MultiStep Status: Iteration %d, step = %d", self.iter, self.current_step)
                return base * self.gamma ** f32(self.current_step)
            if policy == "poly":
                return base * (f32(1) - it / f32(self.max_iter)) ** self.power
            return base * (f32(1) / (f32(1) + np.exp(-self.gamma * (it - f32(self.stepsize)))))

    def _sumsq_diff(self):
        # One reduction over all parameter diffs (on the GPU: one copy to the host, not one per blob).
        return K.sumsq([p.rdiff() for p in self._params])

    def apply_update(self):
        """Caffe's ApplyUpdate on the current diffs: clip, normalise, regularise, update (no iter change)."""
        self._apply_update(self._sumsq_diff() if self.clip_gradients >= 0 else None)

    def _apply_update(self, sumsq):
        rate = f32(self.learning_rate())
        if self.display and self.iter % self.display == 0:
            log.info("Iteration %d, lr = %s", self.iter, _g(rate))
        clip = f32(1)
        if self.clip_gradients >= 0:
            l2norm = f32(math.sqrt(sumsq))
            if l2norm > self.clip_gradients:
                clip = self.clip_gradients / l2norm
                log.info("Gradient clipping: scaling down gradients (L2 norm %s > %s) by scale factor %s",
                         _g(l2norm), _g(self.clip_gradients), _g(clip))
        norm = f32(1) / f32(self.iter_size)
        l1 = self.regularization_type == "L1"
        for i, p in enumerate(self._params):
            decay = self.weight_decay * self._decay_mult[i]
            self._update(i, p, float(clip), float(norm), float(decay), l1, rate * self._lr_mult[i])

    def _update(self, i, param, clip, norm, decay, l1, rate):
        raise NotImplementedError

    # --- the loop ---------------------------------------------------------------------------------
    def add_callback(self, on_start, on_gradients_ready=None):
        """pycaffe's callbacks: on_start() before each iteration's forward, on_gradients_ready() before
        its update; or one object with those methods (caffe.NCCL, which pycaffe's train.py also gives to
        ``solver.net.after_backward`` to reduce layer by layer)."""
        if on_gradients_ready is None:
            if isinstance(on_start, parallel.DataParallel):
                self.parallel = on_start  # signals then act on every rank together (step)
            on_start, on_gradients_ready = on_start.on_start, on_start.on_gradients_ready
        self._callbacks.append((on_start, on_gradients_ready))

    def use_parallel(self, dp):
        """Makes this solver rank solver_rank() of a data-parallel run through ``dp`` (parallel.DataParallel):
        rank 0's state is broadcast at the next step (and after each restore), gradients averaged before
        each update."""
        self._bcast_pending = True
        self.add_callback(dp)
        if dp.overlap:
            self.net.after_backward(dp)

    def _sync_ranks(self):
        if self._bcast_pending:
            self.parallel.bcast()
            self._bcast_pending = False

    def step(self, iters):
        """Runs `iters` iterations (Caffe's Solver::Step)."""
        self._sync_ranks()
        start_iter, stop_iter = self.iter, self.iter + iters
        self._losses, self.smoothed_loss = [], f32(0)
        timer, iters_last = time.perf_counter(), self.iter
        self._test_interrupted = None
        while self.iter < stop_iter:
            self.net.clear_param_diffs()
            if (self.test_interval and self.iter % self.test_interval == 0
                    and (self.iter > 0 or self.test_initialization)):
                self.test_all()
                if self._test_interrupted is not None:
                    self.snapshot(self._test_interrupted)
                    log.info("Stopped at iteration %d", self.iter)
                    break
            for on_start, _ in self._callbacks:
                on_start()
            display = bool(self.display) and self.iter % self.display == 0
            loss, sumsq = f32(0), 0.0
            for k in range(self.iter_size):
                debug = display and self.debug_info
                self.last_pass = k == self.iter_size - 1  # the pass after which the diffs are final
                sub = f32(self._forward_backward_debug() if debug else self.net.forward_backward())
                sumsq = self._sumsq_diff()
                if not (math.isfinite(sub) and math.isfinite(sumsq)):
                    raise NonFiniteError(self._nonfinite_message(sub))
                loss += sub
            self.last_pass = False
            self.loss = loss / f32(self.iter_size)
            self._update_smoothed_loss(self.loss, start_iter)
            if display:
                lapse = time.perf_counter() - timer
                per_s = (self.iter - iters_last) / (lapse or 1)
                log.info("Iteration %d (%s iter/s, %ss/%d iters), loss = %s", self.iter, _g(per_s), _g(lapse),
                         self.display, _g(self.smoothed_loss))
                timer, iters_last = time.perf_counter(), self.iter
                self._log_outputs(self.net, "Train", [self.net.blobs[o].data_at(False).reshape(-1)
                                                       for o in self.net.outputs])
            for _, on_gradients_ready in self._callbacks:
                on_gradients_ready()
            if self._callbacks and self.clip_gradients >= 0:
                sumsq = self._sumsq_diff()  # a callback may have changed the diffs (averaged them over ranks)
            self._apply_update(sumsq)
            self.iter += 1
            stop, snap = self.parallel.requests if self.parallel is not None else (self._stop_requested,
                                                                                     self._snapshot_requested)
            # A data-parallel run acts on the requests that travelled with this iteration's gradients, the same
            # on every rank; one that arrived later travels with the next.
            self._stop_requested |= stop
            self._snapshot_requested &= not snap
            if (self.snapshot_every and self.iter % self.snapshot_every == 0) or snap or stop:
                self.snapshot()
            if stop:
                log.info("Stopped at iteration %d", self.iter)
                break

    def _update_smoothed_loss(self, loss, start_iter):
        """Caffe's UpdateSmoothedLoss: the mean of the last average_loss losses, in float32."""
        if len(self._losses) < self.average_loss:
            self._losses.append(loss)
            n = len(self._losses)
            self.smoothed_loss = (self.smoothed_loss * f32(n - 1) + loss) / f32(n)
        else:
            idx = (self.iter - start_iter) % self.average_loss
            self.smoothed_loss += (loss - self._losses[idx]) / f32(self.average_loss)
            self._losses[idx] = loss

    def _log_outputs(self, net, kind, values):
        """'    <kind> net output #k: name = value (* w = w·value loss)', one line per element."""
        k = 0
        for name, vals in zip(net.outputs, values):
            w = f32(net.blob_loss_weights[name])
            for v in vals:
                extra = f" (* {_g(w)} = {_g(w * f32(v))} loss)" if w else ""
                log.info("    %s net output #%d: %s = %s%s", kind, k, name, _g(v), extra)
                k += 1

    def solve(self, resume_file=None):
        """Trains to max_iter (Caffe's Solver::Solve), with signal handling for its duration."""
        log.info("Solving %s", self.net.name)
        log.info("Learning Rate Policy: %s", self.lr_policy)
        if parallel.root_solver():
            self._check_snapshot_prefix()
            self._remove_stale_temporaries()
        if resume_file:
            log.info("Restoring previous solver status from %s", resume_file)
            self.restore(resume_file)
        self._sync_ranks()  # every rank's iteration is rank 0's before the count of steps left
        with self._signal_handlers():
            start_iter = self.iter
            self.step(self.max_iter - self.iter)
            if self._stop_requested:
                log.info("Optimization stopped early.")
                return
            if self.snapshot_after_train and (not self.snapshot_every or self.iter % self.snapshot_every):
                self.snapshot()
            if self.display and self.iter % self.display == 0:
                loss = f32(self.net.forward_from_to(0, len(self.net.layers) - 1))
                self._update_smoothed_loss(loss, start_iter)
                log.info("Iteration %d, loss = %s", self.iter, _g(self.smoothed_loss))
            if self.test_interval and self.iter % self.test_interval == 0:
                self.test_all()
        log.info("Optimization Done.")

    # --- testing ----------------------------------------------------------------------------------
    def test_all(self):
        for k in range(len(self.test_nets)):
            if self._test_interrupted is not None:
                break
            self.test(k)

    def test(self, k=0):
        """Runs test net k for test_iter[k] batches and logs each output averaged over them (float32
        sums as Caffe). Returns {output name: mean values}, or None if a stop request interrupted it."""
        log.info("Iteration %d, Testing net (#%d)", self.iter, k)
        net = self.test_nets[k]
        self.share_weights(net)
        before = self._run_state() if self._handling_signals else None
        # Several ranks stop together after an iteration, so a test pass then runs to its end.
        interruptible = parallel.solver_count() == 1
        # The other ranks wait for rank 0 meanwhile: a heartbeat per batch keeps their collective timeout away.
        beat = (lambda i, outputs: self.parallel.engine.heartbeat()) if self.parallel is not None else None
        scored = score_net(net, self.test_iter[k], each=beat, stop=lambda: interruptible and self._stop_requested)
        if scored is None:
            log.info("Test interrupted.")
            self._test_interrupted = before
            return None
        loss, result = scored
        if self.test_compute_loss:
            log.info("Test loss: %s", _g(loss))
        per_output = list(result.values())
        self._log_outputs(net, "Test", per_output)
        self.test_scores.append((self.iter, k, result))
        return result

    # --- NaN / Inf --------------------------------------------------------------------------------
    def _nonfinite_message(self, loss):
        where = next((what for arr, what in _blobs_in_order(self.net) if not _finite(arr)),
                     "the loss sum (every blob is finite)")
        return (f"NaN or Inf in the {'loss' if not math.isfinite(loss) else 'gradient'} at iteration {self.iter}, "
                f"first in {where}; stopped before the update: the weights and snapshots are those of iteration "
                f"{self.iter}")

    def _forward_backward_debug(self):
        """forward_backward logging each blob's mean |value| after each layer (Caffe's debug_info)."""
        net = self.net

        def mean_abs(arr):
            return _g(np.abs(arr).mean(dtype=np.float64)) if arr.size else "0"

        def forward(i, layer, bottom, top):
            for j, t in enumerate(top):
                log.info("    [Forward] Layer %s, top blob %s data: %s", layer.name, net.top_names[layer.name][j],
                         mean_abs(t.data_at(False)))
            for p, b in enumerate(layer.blobs):
                log.info("    [Forward] Layer %s, param blob %d data: %s", layer.name, p, mean_abs(b.data_at(False)))

        def backward(i, layer, top, need, bottom):
            if need is None:
                return
            for j, b in enumerate(bottom):
                if need[j]:
                    log.info("    [Backward] Layer %s, bottom blob %s diff: %s", layer.name,
                             net.bottom_names[layer.name][j], mean_abs(b.diff_at(False)))
            for p, b in enumerate(layer.blobs):
                if layer.param_propagate_down[p]:
                    log.info("    [Backward] Layer %s, param blob %d diff: %s", layer.name, p,
                             mean_abs(b.diff_at(False)))
        last = len(net.layers) - 1
        loss = net.forward_from_to(0, last, after=forward)
        net.backward_from_to(last, 0, after=backward)
        return loss

    # --- snapshots --------------------------------------------------------------------------------
    def _paths(self):
        base, h5 = f"{self.snapshot_prefix}_iter_{self.iter}", ".h5" if self.snapshot_format == "HDF5" else ""
        return base + ".caffemodel" + h5, base + ".solverstate" + h5, base + ".runstate.json"

    def snapshot(self, run_state=None):
        """Writes <prefix>_iter_N.caffemodel, .runstate.json, then .solverstate, each atomically (the
        solver state last, so that its presence means the whole snapshot is there). Only rank 0 of a
        data-parallel run writes; the others return."""
        from .proto.caffemodel import write_solverstate
        if not parallel.root_solver():
            return
        model, state, run = self._paths()
        hdf5 = self.snapshot_format == "HDF5"
        log.info("Snapshotting to %s file %s", "HDF5" if hdf5 else "binary proto", model)
        (self.net.save_hdf5 if hdf5 else self.net.save)(model)
        _write_run_state(run, run_state if run_state is not None else self._run_state())
        log.info("Snapshotting solver state to %s file %s", "HDF5" if hdf5 else "binary proto", state)
        write_solverstate(state, dict(iter=self.iter, learned_net=model, current_step=self.current_step,
                                      history=[h.data_at(False) for h in self.history]), hdf5=hdf5)

    def restore(self, path):
        """Continues from a .solverstate (binary or HDF5): weights, iter, current_step, history, and the
        run state (random generator, data layers' positions) when its .runstate.json is present. In a run
        under mpiexec only rank 0 reads it; every rank takes rank 0's state at the next step."""
        from .proto.caffemodel import read_solverstate
        path = os.fspath(path)
        if self.parallel is not None:
            self._bcast_pending = True
            if not parallel.root_solver():
                return
        state = read_solverstate(path)
        history = state["history"]
        if len(history) != len(self.history):
            raise ValueError(f"{path}: {len(history)} history blobs, but a {self.type} solver on net "
                             f"'{self.net.name}' keeps {len(self.history)}")
        for i, (h, arr) in enumerate(zip(self.history, history)):
            if arr.size != h.count:
                name, p, _ = self.net.param_specs[i % len(self._params)]
                raise ValueError(f"{path}: history blob {i} has shape {arr.shape}, but parameter {p} of layer "
                                 f"'{name}' has shape {h.shape}")
        learned = state["learned_net"]
        if learned:
            if not os.path.exists(learned):  # written relative to another working directory
                learned = os.path.join(os.path.dirname(path), os.path.basename(learned))
            self.net.copy_from(learned)
        self.iter, self.current_step = int(state["iter"]), int(state["current_step"])
        for h, arr in zip(self.history, history):
            h.data[...] = arr.reshape(h.shape)
        run = _run_state_path(path)
        if os.path.exists(run):
            self._set_run_state(_read_run_state(run))
        else:
            log.warning("%s not found: the random generator and data layers start afresh, so the run will not "
                        "repeat an uninterrupted one exactly", run)

    def _nets(self):
        return [("train", self.net)] + [(f"test{k}", n) for k, n in enumerate(self.test_nets)]

    def _run_state(self):
        layers = {(key, layer.name): layer.data_state() for key, net in self._nets() for layer in net.layers
                  if hasattr(layer, "data_state")}
        return {"rng": mode.rng().bit_generator.state, "layers": layers}

    def _set_run_state(self, state):
        mode.rng().bit_generator.state = state["rng"]
        for key, net in self._nets():
            for layer in net.layers:
                saved = state["layers"].get((key, layer.name))
                if saved is not None and hasattr(layer, "set_data_state"):
                    layer.set_data_state(saved)

    # --- signals ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _signal_handlers(self):
        """SIGINT (sigint_effect), SIGTERM (stop) and SIGHUP (sighup_effect), as `caffe train`'s
        -sigint_effect/-sighup_effect: "stop" snapshots and stops after this iteration (a second stop
        signal aborts), "snapshot" snapshots after it and goes on, "none" ignores the signal."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        for name in ("sigint_effect", "sighup_effect"):
            if getattr(self, name) not in SIGNAL_EFFECTS:
                raise ValueError(f"{name} {getattr(self, name)!r}: one of {', '.join(SIGNAL_EFFECTS)}")

        def stop(signum, frame):
            if self._stop_requested:
                raise KeyboardInterrupt
            self._stop_requested = True
            log.warning("%s: snapshotting and stopping when the current iteration is done (send it again to "
                        "abort without a snapshot)", signal.Signals(signum).name)

        def snap(signum, frame):
            self._snapshot_requested = True
            log.info("%s: snapshotting when the current iteration is done", signal.Signals(signum).name)

        def ignore(signum, frame):
            log.info("%s ignored (its effect is 'none')", signal.Signals(signum).name)
        effects = {"stop": stop, "snapshot": snap, "none": ignore}
        handlers = {signal.SIGINT: effects[self.sigint_effect], signal.SIGTERM: stop}
        if hasattr(signal, "SIGHUP"):
            handlers[signal.SIGHUP] = effects[self.sighup_effect]
        self._stop_requested = self._snapshot_requested = False
        previous = {s: signal.signal(s, h) for s, h in handlers.items()}
        self._handling_signals = True
        try:
            yield
        finally:
            self._handling_signals = self._stop_requested = self._snapshot_requested = False
            for s, h in previous.items():
                signal.signal(s, h)


def score_net(net, iterations, each=None, stop=lambda: False):
    """Runs ``net`` forward ``iterations`` times and averages its loss and every output element over them
    (float32 sums, as Caffe's Solver::Test and `caffe test`) → (mean loss, {output: mean values}), or None
    when ``stop()`` turns true before a batch. ``each(i, {output: values})`` sees every batch's outputs."""
    scores, loss = None, f32(0)
    for i in range(iterations):
        if stop():
            return None
        loss += f32(net.forward_from_to(0, len(net.layers) - 1))
        values = [net.blobs[o].data_at(False).reshape(-1) for o in net.outputs]
        if each is not None:
            each(i, dict(zip(net.outputs, values)))
        flat = np.concatenate(values or [np.zeros(0, f32)])
        scores = flat.astype(f32) if scores is None else scores + flat
    n = f32(max(iterations, 1))
    means = (scores if scores is not None else np.zeros(0, f32)) / n
    split = np.cumsum([net.blobs[o].count for o in net.outputs])[:-1]
    return loss / n, dict(zip(net.outputs, np.split(means, split) if net.outputs else []))


def _blobs_in_order(net):
    """(array, description) for each layer's tops in forward order, then each layer's parameter and bottom
    diffs in backward order: where a NaN or Inf would appear first."""
    for i, layer in enumerate(net.layers):
        for j, top in enumerate(net.layer_io(i)[1]):
            yield top.rdata(), f"layer '{layer.name}' ({layer.type}) forward: top blob '{net.top_names[layer.name][j]}'"
    for i in range(len(net.layers) - 1, -1, -1):
        layer = net.layers[i]
        bottom, _, need = net.layer_io(i)
        if need is None:
            continue
        for p, blob in enumerate(layer.blobs):
            if layer.param_propagate_down[p]:
                yield blob.rdiff(), f"layer '{layer.name}' ({layer.type}) backward: param blob {p} diff"
        for j, b in enumerate(bottom):
            if need[j]:
                yield b.rdiff(), (f"layer '{layer.name}' ({layer.type}) backward: bottom blob "
                                  f"'{net.bottom_names[layer.name][j]}' diff")


# --- the run state file (.runstate.json) --------------------------------------------------------------
def _run_state_path(solverstate):
    return solverstate.removesuffix(".h5").removesuffix(".solverstate") + ".runstate.json"


def _jsonable(value):
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    raise TypeError(f"a layer's data_state() holds a {type(value).__name__}, which JSON cannot store")


def _write_run_state(path, state):
    """{"rng": the generator state, "layers": [[net, layer, data_state], ...]} as JSON, written to a
    temporary file and renamed over `path`."""
    layers = [[net, layer, st] for (net, layer), st in state["layers"].items()]
    text = json.dumps({"rng": state["rng"], "layers": layers}, default=_jsonable)

    def write(tmp):
        with open(tmp, "x") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    atomic_write(path, write)


def _read_run_state(path):
    with open(path) as f:
        d = json.load(f)
    return {"rng": d["rng"], "layers": {(net, layer): st for net, layer, st in d["layers"]}}


# --- the solver types ---------------------------------------------------------------------------------
class SGDSolver(Solver):
    """Stochastic gradient descent with momentum: h = momentum·h + rate·g; w −= h."""
    type = "SGD"

    def _update(self, i, p, clip, norm, decay, l1, rate):
        K.sgd_update(p.wdata(), p.wdiff(), self.history[i].wdata(), clip, norm, decay, l1, float(rate),
                     float(self.momentum))


class NesterovSolver(Solver):
    """Nesterov's accelerated gradient: w −= (1+momentum)·h' − momentum·h."""
    type = "Nesterov"

    def _update(self, i, p, clip, norm, decay, l1, rate):
        K.nesterov_update(p.wdata(), p.wdiff(), self.history[i].wdata(), clip, norm, decay, l1, float(rate),
                          float(self.momentum))


class AdaGradSolver(Solver):
    """AdaGrad: h += g²; w −= rate·g/(√h + delta). Momentum must be 0."""
    type = "AdaGrad"

    def __init__(self, param_file):
        super().__init__(param_file)
        if self.momentum != 0:
            raise self._param.error("momentum", "momentum cannot be used with AdaGrad")

    def _update(self, i, p, clip, norm, decay, l1, rate):
        K.adagrad_update(p.wdata(), p.wdiff(), self.history[i].wdata(), clip, norm, decay, l1, float(rate),
                         float(self.delta))


class RMSPropSolver(Solver):
    """RMSProp: h = (1−rms_decay)·g² + rms_decay·h; w −= rate·g/(√h + delta). Momentum must be 0."""
    type = "RMSProp"

    def __init__(self, param_file):
        super().__init__(param_file)
        if self.momentum != 0:
            raise self._param.error("momentum", "momentum cannot be used with RMSProp")
        if not 0 <= self.rms_decay < 1:
            raise self._param.error("rms_decay", "rms_decay should lie between 0 and 1")

    def _update(self, i, p, clip, norm, decay, l1, rate):
        K.rmsprop_update(p.wdata(), p.wdiff(), self.history[i].wdata(), clip, norm, decay, l1, float(rate),
                         float(self.rms_decay), float(self.delta))


class AdaDeltaSolver(Solver):
    """AdaDelta (Zeiler 2012) as Caffe has it: histories of squared gradients and squared updates, both
    decayed by momentum; the update is scaled by the learning rate (usually 1)."""
    type = "AdaDelta"
    history_sets = 2

    def _update(self, i, p, clip, norm, decay, l1, rate):
        n = len(self._params)
        K.adadelta_update(p.wdata(), p.wdiff(), self.history[i].wdata(), self.history[n + i].wdata(), clip, norm,
                          decay, l1, float(rate), float(self.momentum), float(self.delta))


class AdamSolver(Solver):
    """Adam (Kingma & Ba 2015): beta1 = momentum, beta2 = momentum2, epsilon = delta; the bias correction
    √(1−β2^t)/(1−β1^t), t = iter + 1, multiplies the rate (float32, as Caffe)."""
    type = "Adam"
    history_sets = 2

    def _update(self, i, p, clip, norm, decay, l1, rate):
        n, t = len(self._params), f32(self.iter + 1)
        correction = np.sqrt(f32(1) - self.momentum2 ** t) / (f32(1) - self.momentum ** t)
        K.adam_update(p.wdata(), p.wdiff(), self.history[i].wdata(), self.history[n + i].wdata(), clip, norm, decay,
                      l1, float(rate * correction), float(self.momentum), float(self.momentum2), float(self.delta))


SOLVERS = {cls.type: cls for cls in (SGDSolver, NesterovSolver, AdaGradSolver, RMSPropSolver, AdaDeltaSolver,
                                     AdamSolver)}


def solver_type(sp):
    """The solver type of a SolverParameter: `type`, or the old `solver_type` enum upgraded as Caffe does."""
    if "solver_type" in sp:
        if "type" in sp:
            raise sp.error("solver_type", "the old solver_type field (enum) and the new type field (string) cannot "
                                          "both be specified")
        return _TYPE_NAMES[sp.enum("solver_type", "SGD", SOLVER_TYPES)]
    name = sp.str("type", "SGD")
    if name not in SOLVERS:
        raise sp.error("type", f"unknown solver type '{name}' (known: {', '.join(SOLVERS)})")
    return name


def _from_pb(param_file):
    """A caffe_pb2.SolverParameter as the Message parse_file gives; anything else as it is."""
    if isinstance(param_file, PbMessage):
        return to_text_message(param_file, f"<{type(param_file).__name__}>")
    return param_file


def get_solver(param_file):
    """The solver of the type the file names (pycaffe's get_solver); `param_file` is a path, a Message or a
    caffe_pb2.SolverParameter."""
    param_file = _from_pb(param_file)
    sp = param_file if isinstance(param_file, Message) else parse_file(os.fspath(param_file))
    return SOLVERS[solver_type(validate_solver(sp))](param_file)
