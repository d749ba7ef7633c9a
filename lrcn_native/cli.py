"""The `lrcn` command, after the `caffe` tool (whose -flag syntax it accepts too): train, test, time,
device_query, inspect, convert, upgrade-net, upgrade-solver, convert-imageset, compute-image-mean,
extract-features, export-torch; for captioning
prepare-captions, caption and score. Log lines follow Caffe's wording and glog's line prefix so existing
log parsers (Caffe's tools/extra/parse_log.py) work."""
import argparse
import functools
import logging
import os
import sys
import time

import numpy as np

from . import draw
from .fileio import atomic_write, atomic_write_text
from .glog import GlogFormatter

log = logging.getLogger("lrcn_native")


def _gpu_ids(spec):
    """--gpu as `caffe` reads it: "0", "0,1" or "all" (every device CUDA sees) -> device ids."""
    if spec.strip() == "all":
        from lrcn_native.backend import K
        n = K.device_count()
        if not n:
            raise RuntimeError("--gpu all: no CUDA device is visible" + ("" if K.has_cuda else
                               " (this lrcn_native was built without CUDA)"))
        return list(range(n))
    try:
        ids = [int(i) for i in spec.split(",")]
    except ValueError:
        raise ValueError(f"--gpu {spec!r}: give device ids (0 or 0,1) or 'all'") from None
    if any(i < 0 for i in ids):
        raise ValueError(f"--gpu {spec!r}: device ids are >= 0")
    return ids


def _mode(gpu):
    """CPU mode for gpu=None, else GPU mode on the first device of --gpu (as `caffe test` and `caffe time`)."""
    import lrcn_native as caffe
    from lrcn_native.backend import blas_core, blas_library
    log.info("CPU sgemm: %s (OpenBLAS kernels: %s)", blas_library, blas_core)  # logged at import, before our handler
    if gpu is None:
        caffe.set_mode_cpu()
        return False
    caffe.set_device(_gpu_ids(gpu)[0])
    caffe.set_mode_gpu()
    return True


def cmd_time(args):
    """Per-layer forward and backward time of a net, like `caffe time`."""
    import lrcn_native as caffe
    from lrcn_native.backend import K
    from lrcn_native.net import NetError
    from lrcn_native.proto.text import parse_file
    from lrcn_native.tasks.synthetic import parse_input_shape, with_synthetic_inputs
    gpu = _mode(args.gpu)
    phase = caffe.TRAIN if args.phase == "TRAIN" else caffe.TEST
    given = dict(parse_input_shape(text) for text in args.input_shape or ())
    netp = parse_file(args.model)

    def build(phase):
        """The net, its data layers that cannot read their files replaced by synthetic inputs (logged)."""
        synthetic, notes = with_synthetic_inputs(netp, phase, args.level, tuple(args.stage or ()), given)
        net = caffe.Net(synthetic, phase, level=args.level, stages=args.stage or ())
        for note in notes:
            log.warning("%s", note)
        return net
    try:
        net = build(phase)
    except NetError as e:
        if phase == caffe.TEST:
            raise
        try:
            build(caffe.TEST)
        except (NetError, ValueError):
            raise e from None
        raise NetError(f"{e}\n(it builds with --phase TEST: time a deploy net in the TEST phase)") from None
    print(f"Blobs and parameters of '{net.name}': {net.memory_bytes() / 2 ** 20:.1f} MiB (data and diff)")
    rng = np.random.default_rng(0)
    # Timing does not depend on values: the first input (the data) gets random values, the others zeros,
    # which are valid labels, word ids and clip markers.
    for k, name in enumerate(net.inputs):
        blob = net.blobs[name]
        blob.data[...] = rng.standard_normal(blob.shape, dtype=np.float32) if k == 0 else 0
    sync = K.synchronize if gpu else (lambda: None)
    n_layers = len(net.layers)
    fwd, bwd = np.zeros(n_layers), np.zeros(n_layers)
    print(f"Performing Forward/Backward: {args.iterations} iterations of '{net.name}' on "
          f"{'GPU ' + str(args.gpu) if gpu else 'CPU'}")
    net.forward_backward()  # warm-up: allocations, BLAS thread start
    sync()
    clock = [0.0]  # when the previous layer (or the pass) ended: a layer's time runs from there to its end

    def timer(times):
        def after(i, *_):
            sync()
            now = time.perf_counter()
            times[i] += now - clock[0]
            clock[0] = now
        return after
    last = len(net.layers) - 1
    total = time.perf_counter()
    for it in range(args.iterations):
        t_it = clock[0] = time.perf_counter()
        net.forward_from_to(0, last, after=timer(fwd))
        clock[0] = time.perf_counter()
        net.backward_from_to(last, 0, after=timer(bwd))
        print(f"Iteration: {it + 1} forward-backward time: {1e3 * (time.perf_counter() - t_it):.2f} ms.")
    total = time.perf_counter() - total
    n = args.iterations
    print("Average time per layer: ")
    for i, name in enumerate(layer.name for layer in net.layers):
        print(f"{name:>20s}\tforward: {1e3 * fwd[i] / n:.4f} ms.")
        print(f"{name:>20s}\tbackward: {1e3 * bwd[i] / n:.4f} ms.")
    print(f"Average Forward pass: {1e3 * fwd.sum() / n:.4f} ms.")
    print(f"Average Backward pass: {1e3 * bwd.sum() / n:.4f} ms.")
    print(f"Average Forward-Backward: {1e3 * total / n:.4f} ms.")
    print(f"Total Time: {1e3 * total:.4f} ms.")
    return 0


def cmd_inspect(args):
    """Layers, blob shapes and parameter counts of a weight file (.caffemodel V1/V2 or .caffemodel.h5)."""
    from lrcn_native.proto.caffemodel import load_weights
    wf = load_weights(args.file)
    print(f"{args.file}: format {wf.format}" + (f", net '{wf.name}'" if wf.name else ""))
    if wf.input:
        print(f"net inputs: {', '.join(wf.input)} dims {wf.input_dim or wf.input_shape}")
    total = 0
    for layer in wf.layers:
        count = sum(int(b.size) for b in layer.blobs)
        total += count
        shapes = " ".join("x".join(map(str, b.shape)) + ("(legacy)" if legacy else "")
                          for b, legacy in zip(layer.blobs, layer.legacy))
        print(f"  {layer.name:<24s} {layer.type or '-':<16s} {count:>12,d}  {shapes}")
    print(f"{len(wf.layers)} layers, {total:,d} parameters ({4 * total / 2 ** 20:.1f} MiB as float32)")
    return 0


def cmd_convert(args):
    """.caffemodel <-> .caffemodel.h5 (the output format from OUT's extension: .h5 is HDF5)."""
    from lrcn_native.proto.caffemodel import LayerWeights, load_weights, write_caffemodel, write_hdf5_weights
    wf = load_weights(args.input)
    layers = [LayerWeights(l.name, l.type, [l.blobs[i] for i in range(len(l.blobs))], list(l.legacy))
              for l in wf.layers]
    if args.output.endswith(".h5"):
        write_hdf5_weights(args.output, layers)
        written = "HDF5"
    else:
        write_caffemodel(args.output, wf.name, layers)
        written = "binary .caffemodel (V2); name it *.h5 for HDF5"
    print(f"wrote {args.output} ({len(layers)} layers, {written}) from {args.input} ({wf.format})")
    return 0


def cmd_device_query(args):
    """What CUDA sees, as `caffe device_query`: each device's name, memory and compute capability, and the
    architectures this build's kernels were compiled for."""
    from lrcn_native.backend import K
    if not K.has_cuda:
        print("lrcn_native was built without CUDA (CPU only): rebuild with nvcc on the PATH (or CUDACXX set) "
              "to use a GPU")
        return 1
    n = K.device_count()
    print(f"CUDA kernels built for architectures: {K.cuda_architectures}")
    if not n:
        print("no CUDA device is visible (no GPU, no driver, or CUDA_VISIBLE_DEVICES hides them)")
        return 1
    ids = _gpu_ids(args.gpu) if args.gpu is not None else range(n)
    for i in ids:
        if i >= n:
            raise ValueError(f"--gpu {args.gpu}: device {i} does not exist ({n} visible)")
        p = K.device_properties(i)
        major, minor = p["compute_capability"]
        print(f"Device id:                     {i}")
        print(f"Name:                          {p['name']}")
        print(f"Total global memory:           {p['total_memory']} ({p['total_memory'] / 2 ** 30:.1f} GiB)")
        print(f"Compute capability:            {major}.{minor}")
        print(f"Number of multiprocessors:     {p['multiprocessors']}")
        print(f"CUDA runtime / driver:         {p['runtime_version']} / {p['driver_version']}")
        note = _architecture_note(K.cuda_architectures, major * 10 + minor)
        if note:
            print(f"Warning: {note}; rebuild with -DCMAKE_CUDA_ARCHITECTURES={major}{minor}")
    return 0


def _architecture_note(architectures, cc):
    """Whether kernels built for CMake's `architectures` ("80 90-real") run on a device of compute capability
    `cc` (86): machine code for it, else PTX of an older one that the driver compiles at start, else none."""
    real, ptx = set(), set()
    for a in architectures.split():
        number, _, kind = a.partition("-")
        if not number.isdigit():  # "all", "all-major", "native": built for whatever devices there were
            return None
        if kind != "virtual":
            real.add(int(number))
        if kind != "real":
            ptx.add(int(number))
    if cc in real:
        return None
    if any(p <= cc for p in ptx):
        return f"no machine code for sm_{cc}: the driver compiles the PTX at the first start (slow)"
    return f"no kernels for sm_{cc}: the GPU cannot run this build"


def cmd_upgrade_net(args):
    """A V1 net prototxt rewritten as V2 (Caffe's upgrade_net_proto_text)."""
    from lrcn_native.proto.text import parse_file
    from lrcn_native.proto.upgrade import to_text, upgrade_net
    netp = parse_file(args.input)
    upgraded = upgrade_net(netp)
    atomic_write_text(args.output, to_text(upgraded) + "\n")
    print(f"wrote {args.output}: " + ("upgraded from V1 to V2" if upgraded is not netp else
                                       "already in the current format, written unchanged (comments dropped)"))
    return 0


def cmd_draw_net(args):
    """A net prototxt drawn by Graphviz (pycaffe's draw_net.py)."""
    return draw.run(args)


def cmd_upgrade_solver(args):
    """An old solver prototxt (solver_type enum) rewritten with the `type` string (Caffe's upgrade_solver_proto_text)."""
    from lrcn_native.proto.text import parse_file
    from lrcn_native.proto.upgrade import to_text, upgrade_solver
    sp = parse_file(args.input)
    upgraded = upgrade_solver(sp)
    atomic_write_text(args.output, to_text(upgraded) + "\n")
    print(f"wrote {args.output}: " + (f"solver_type {sp.get('solver_type')} -> type \"{upgraded.get('type')}\""
                                       if upgraded is not sp else "already in the current format, written unchanged"))
    return 0


def cmd_convert_imageset(args):
    """An image list -> an LMDB of Datums (Caffe's convert_imageset)."""
    from lrcn_native.data.imageset import convert_imageset
    s = convert_imageset(args.root, args.list, args.db, (args.resize_height, args.resize_width), args.shuffle,
                         args.gray, args.encoded, args.encode_type, args.check_size, args.seed)
    print(f"wrote {args.db}: {s['written']} of {s['images']} images")
    if s["skipped"]:  # as Caffe's tool: logged and skipped, the database is still written
        print(f"lrcn convert-imageset: warning: {len(s['skipped'])} unreadable images skipped (first: "
              f"{s['skipped'][0]})", file=sys.stderr)
    return 0


def cmd_compute_image_mean(args):
    """The mean image of an LMDB or an image list as a .binaryproto (Caffe's compute_image_mean)."""
    from lrcn_native.data.imageset import compute_image_mean
    from lrcn_native.proto.caffemodel import write_legacy_blobproto
    if args.backend != "lmdb":
        raise ValueError(f"--backend {args.backend}: only lmdb databases are read (convert LevelDB with "
                         "convert_imageset -backend lmdb)")
    mean = compute_image_mean(args.input, args.root, (args.resize_height, args.resize_width), args.gray)
    if args.output:
        log.info("Write to %s", args.output)
        write_legacy_blobproto(args.output, mean)
    print(f"mean of {args.input}: {'x'.join(map(str, mean.shape))}, per channel "
          + " ".join(f"{v:.4f}" for v in mean[0].mean(axis=(1, 2))) + (f" -> {args.output}" if args.output else ""))
    return 0


def cmd_extract_features(args):
    """Named blobs over a net's data source into HDF5 or LMDB (Caffe's extract_features)."""
    import lrcn_native as caffe
    from lrcn_native.tasks import features
    names = [n for n in args.blobs.split(",") if n]
    _mode(args.gpu)
    net = caffe.Net(args.model, caffe.TEST, weights=args.weights, level=args.level, stages=args.stage or ())
    features.check_blobs(net, names)  # before any batch is read
    if args.format == "hdf5":
        shapes = features.to_hdf5(args.output, net, names, args.num_batches)
        print(f"wrote {args.output}: " + ", ".join(f"{n} {'x'.join(map(str, s))}" for n, s in shapes.items()))
    else:
        counts = features.to_lmdb(args.output.split(","), net, names, args.num_batches)
        print(f"wrote {args.output}: " + ", ".join(f"{n} {c} items" for n, c in counts.items()))
    return 0


def cmd_export_torch(args):
    """A PyTorch state_dict of a net's weights, with the module that runs it (lrcn_native.export_torch)."""
    from lrcn_native.layer import PHASES
    try:
        from lrcn_native.export_torch import export
    except ImportError as e:
        print(f"lrcn export-torch: error: {e}", file=sys.stderr)
        return 1
    module = export(args.weights, args.model, args.output, PHASES.index(args.phase), args.level, args.stage or ())
    state = module.state_dict()
    print(f"wrote {args.output}: {len(state)} tensors ({sum(t.numel() for t in state.values()):,} values) for "
          f"{len(module.steps)} layers of {args.model}; load with lrcn_native.export_torch.TorchNet(net)"
          ".load_state_dict(torch.load(OUT))")
    return 0


def _gpu_available():
    from lrcn_native.backend import K
    try:
        import cupy  # noqa: F401
    except ImportError:
        return False
    return bool(K.has_cuda) and K.device_count() > 0


def _solver_param(args):
    """The solver file with the command line's overrides, as `caffe train` applies them: --level and
    --stage go to train_state, --weights replaces the file's weights, --snapshot clears them."""
    from lrcn_native.proto.schema import validate_solver
    from lrcn_native.proto.text import Message, parse_file
    sp = validate_solver(parse_file(args.solver))
    if args.level or args.stage:
        state = sp.msg("train_state") if "train_state" in sp else Message(sp.filename)
        if args.level:
            state.fields.pop("level", None)
            state.where.pop("level", None)
            state.add("level", args.level)
        for stage in args.stage or ():
            state.add("stage", stage)
        if "train_state" not in sp:
            sp.add("train_state", state)
    if args.snapshot or args.weights:
        sp.fields.pop("weights", None)
        sp.where.pop("weights", None)
        if args.weights:
            sp.add("weights", args.weights)
    return sp


class _Progress:
    """A progress bar with rate and ETA on the terminal's last line. It is also the log handler's stream:
    a log line erases the bar, prints, and redraws it below."""

    def __init__(self, stream, start, total):
        self.stream, self.start, self.total = stream, start, total
        self.t0, self.last, self.text = time.monotonic(), 0.0, ""

    def write(self, s):
        self.stream.write("\r\033[K" + s if self.text else s)
        if s.endswith("\n") and self.text:
            self.stream.write(self.text)
        self.stream.flush()

    def flush(self):
        self.stream.flush()

    def update(self, it, loss):
        now = time.monotonic()
        if now - self.last < 0.2 and it < self.total:
            return
        self.last = now
        rate = (it - self.start) / max(now - self.t0, 1e-9)
        eta = int((self.total - it) / rate) if rate > 0 else 0
        done = int(30 * it / max(self.total, 1))
        self.text = (f"[{'#' * done}{'.' * (30 - done)}] {it}/{self.total}  {rate:.3g} iter/s  "
                     f"ETA {eta // 3600}:{eta // 60 % 60:02d}:{eta % 60:02d}  loss {float(loss):.4g}")
        self.stream.write("\r\033[K" + self.text)
        self.stream.flush()

    def close(self):
        if self.text:
            self.stream.write("\r\033[K")
            self.text = ""


class _Plot:
    """Loss (per iteration and smoothed) and test outputs (per test pass) against the iteration, redrawn
    into a PNG at most every 30 s and at the end (written atomically)."""

    def __init__(self, path, solver):
        import matplotlib
        matplotlib.use("Agg")
        self.path, self.solver = path, solver
        self.iters, self.losses, self.smoothed, self.last = [], [], [], time.monotonic()

    def record(self):
        self.iters.append(self.solver.iter)
        self.losses.append(float(self.solver.loss))
        self.smoothed.append(float(self.solver.smoothed_loss))
        if time.monotonic() - self.last > 30:
            self.draw()

    def draw(self):
        import matplotlib.pyplot as plt
        self.last = time.monotonic()
        tests = {}
        for it, k, result in self.solver.test_scores:
            for name, values in result.items():
                tests.setdefault(f"test #{k} {name}", ([], []))
                tests[f"test #{k} {name}"][0].append(it)
                tests[f"test #{k} {name}"][1].append(float(values[0]))
        fig, axes = plt.subplots(2 if tests else 1, 1, sharex=True, figsize=(9, 7 if tests else 4), squeeze=False)
        ax = axes[0, 0]
        ax.plot(self.iters, self.losses, lw=0.5, alpha=0.4, label="train loss")
        ax.plot(self.iters, self.smoothed, lw=1.2, label=f"smoothed (average_loss {self.solver.average_loss})")
        ax.set_ylabel("loss")
        ax.legend(loc="upper right")
        if tests:
            for label, (its, vals) in tests.items():
                axes[1, 0].plot(its, vals, marker="o", ms=3, label=label)
            axes[1, 0].set_ylabel("test output")
            axes[1, 0].legend(loc="best")
        axes[-1, 0].set_xlabel("iteration")
        fig.tight_layout()
        atomic_write(self.path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
        plt.close(fig)


def cmd_train(args):
    """Trains a net as `caffe train` does: from scratch, fine-tuning --weights, or resuming --snapshot. Under
    mpiexec with several processes, or with several --gpu ids, data-parallel (lrcn_native/parallel.py)."""
    import lrcn_native as caffe
    from lrcn_native import parallel
    from lrcn_native.solver import NonFiniteError
    if args.snapshot and args.weights:
        raise ValueError("give a snapshot to resume training or weights to finetune, but not both")
    engine, launched = parallel.join_world(), parallel.launched_rank()
    if launched is None and args.gpu is not None and len(_gpu_ids(args.gpu)) > 1:
        if engine is not None:
            raise ValueError(f"--gpu {args.gpu}: under mpiexec give each process one GPU (or none)")
        if not parallel.has_nccl():
            raise RuntimeError(f"--gpu {args.gpu}: training on several GPUs needs NCCL: a CUDA build and "
                               "pip install 'lrcn_native[nccl]'")
        # One process per GPU, each running this same command line as rank r (parallel.launch).
        return parallel.launch([sys.executable, "-m", "lrcn_native.cli", *args.argv], _gpu_ids(args.gpu),
                               parallel.NCCL.new_uid().hex())
    sp = _solver_param(args)
    gpu = args.gpu
    if launched is not None:
        rank, count, gpus, uid = launched
        parallel.set_solver_count(count)
        parallel.set_solver_rank(rank)
        parallel.set_multiprocess(True)
        parallel.log_only_on_root()
        gpu = str(gpus[rank])
    if gpu is None and sp.enum("solver_mode", "GPU", ("CPU", "GPU")) == "GPU":
        if _gpu_available():
            gpu = sp.int("device_id", 0)
        else:
            log.warning("solver_mode is GPU but no CUDA device (with cupy) is usable here: training on the CPU")
    log.info("Use GPU with device ID %s" % gpu if _mode(gpu) else "Use CPU.")
    plot = None
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise RuntimeError("--plot needs matplotlib (pip install matplotlib)") from None
    solver = caffe.get_solver(sp)
    if launched is not None:
        solver.use_parallel(parallel.NCCL(solver, uid))
    solver.sigint_effect, solver.sighup_effect = args.sigint_effect, args.sighup_effect
    root = parallel.root_solver()
    if args.plot and root:
        plot = _Plot(args.plot, solver)
        solver.add_callback(lambda: None, plot.record)
    progress = None
    handler = logging.getLogger().handlers[0] if logging.getLogger().handlers else None
    if root and handler is not None and getattr(handler, "stream", None) is sys.stderr and sys.stderr.isatty():
        progress = _Progress(sys.stderr, 0, solver.max_iter)
        handler.setStream(progress)
        solver.add_callback(lambda: None, lambda: progress.update(solver.iter + 1, solver.smoothed_loss))
    try:
        if args.snapshot:
            log.info("Resuming from %s", args.snapshot)
            solver.restore(args.snapshot)
            if progress:
                progress.start = solver.iter
        log.info("Starting Optimization")
        solver.solve()
    except NonFiniteError as e:
        if parallel.solver_count() > 1:
            parallel.abort(str(e))  # the other ranks would wait for this one: end them all
        log.error("%s", e)
        return 1
    except KeyboardInterrupt:
        log.error("Aborted at iteration %d without a snapshot", solver.iter)
        return 130
    finally:
        if progress:
            progress.close()
            handler.setStream(sys.stderr)
        if plot:
            plot.draw()
    return 0


def cmd_test(args):
    """Scores a trained net over --iterations batches, as `caffe test`: each output per batch, then its mean."""
    import lrcn_native as caffe
    from lrcn_native.solver import score_net
    log.info("Use GPU with device ID %s" % args.gpu if _mode(args.gpu) else "Use CPU.")
    net = caffe.Net(args.model, caffe.TEST, level=args.level, stages=args.stage or ())
    for path in args.weights.split(","):
        net.copy_from(path)
    log.info("Running for %d iterations.", args.iterations)

    def each(i, outputs):
        for name, vals in outputs.items():
            for v in vals:
                log.info("Batch %d, %s = %g", i, name, v)
    loss, means = score_net(net, args.iterations, each)
    log.info("Loss: %g", loss)
    for name, vals in means.items():
        w = np.float32(net.blob_loss_weights[name])
        for mean in vals:
            log.info("%s = %g%s", name, mean, f" (* {w:g} = {w * mean:g} loss)" if w else "")
    return 0


_MODELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")


_SERIAL_PREP = ("Serial and quick (one vocabulary, one seeded shuffle, one stream of HDF5 files; about a minute "
                "even for COCO's 414k training captions): under mpiexec/srun rank 0 does it and the other ranks "
                "wait for its exit status.")


def _rank0_only(cmd):
    """A serial preparation verb (_SERIAL_PREP) on rank 0 alone; the other ranks wait and exit with its status
    (only rank 0 prints, errors included)."""
    def run(args):
        from lrcn_native.distributed import on_root, world
        try:
            return on_root(lambda: cmd(args))
        except Exception:
            if world().is_root:
                raise
            return 1
    return run


def cmd_prepare_captions(args):
    """Captions → vocabulary.txt and the HDF5 sentence streams per split (the released coco_to_hdf5_data)."""
    from lrcn_native.data import captions as C
    readers = {"coco": lambda path, split: C.read_coco(path, args.images),
               "karpathy": lambda path, split: C.read_karpathy(path, args.images, split),
               "flickr-tokens": lambda path, split: C.read_flickr_tokens(path, args.images)}
    sets = [(split, readers[args.format](path, split)) for split, path in
            (("train", args.train), ("val", args.val), ("test", args.test)) if path]
    vocab = C.read_vocabulary(args.vocab) if args.vocab else None
    summary = C.prepare(sets, args.out, vocab=vocab, min_count=args.min_count, skip_missing=args.skip_missing,
                        aligned=not args.unaligned, max_words=args.max_words)
    print(f"vocabulary: {len(summary['vocabulary'])} words (+ EOS) in {args.out}/vocabulary.txt")
    for split, _ in sets:
        s, missing = summary[split], summary["missing"][split]
        print(f"{split}: {s['pairs']} captions -> {s['sequences']} sequences ({s['padded']} padded, "
              f"{s['truncated']} truncated), {s['rows']} rows in {len(s['files'])} file(s)"
              + (f"; {len(missing)} images missing, skipped" if missing else ""))
    return 0


def cmd_prepare_tacos(args):
    """Semantic representations + sentences → vocabulary, HDF5 streams and nets for Table 5's (a), (b), (c)."""
    from lrcn_native.data import semantic as S
    from lrcn_native.tasks.video_description import write_nets

    def read(path, slots=None):
        if args.format == "json":
            return S.read_semantic(path)
        optional = [p if os.path.exists(p) else None for p in (path + ".ids", path + ".crf")]
        return S.read_tacos_smt(path + ".sr", path + ".en", args.slots.split(","), *optional, slots=slots)
    sets = [("train", read(args.train))]
    if args.test:      # the SMT files' labels are the training split's: others are unknown labels
        sets.append(("test", read(args.test, sets[0][1].slots)))
    summary = S.prepare(sets, args.out, min_count=args.min_count, max_words=args.max_words,
                        buffer_size=args.buffer_size)
    for split, sset in sets:
        S.write_semantic(os.path.join(args.out, f"{split}.json"), sset)
        s = summary[split]
        print(f"{split}: {s['videos']} videos -> {s['sequences']} sequences, {s['rows']} rows"
              + ("" if s["probs"] else " (no CRF probabilities: the crf_prob net cannot train on it)"))
    nets = write_nets(args.out, args.out, len(summary["vocabulary"]) + 1, sets[0][1].dim, args.hidden,
                      args.max_words, len(sets[0][1].slots), args.buffer_size)
    print(f"vocabulary: {len(summary['vocabulary'])} words (+ EOS); labels: {sets[0][1].dim} in "
          f"{len(sets[0][1].slots)} slots; nets: " + ", ".join(os.path.basename(p["solver"]) for p in nets.values())
          + " (paths relative to this folder: train from here)")
    return 0


def cmd_caption(args):
    """Captions for images (or precomputed descriptors) with a trained LRCN, as the released captioner."""
    import json
    import random

    import lrcn_native as caffe
    from lrcn_native.data.captions import read_vocabulary, sentence
    from lrcn_native.tasks import captioning as T
    _mode(args.gpu)
    if bool(args.images) == bool(args.features):
        raise ValueError("give image files or --features, not both or neither")
    lstm_net = caffe.Net(args.model, caffe.TEST, weights=args.weights, stages=args.stage or ())
    vocab = read_vocabulary(args.vocab)
    if len(vocab) + 1 != lstm_net.blobs["probs"].shape[2]:
        raise ValueError(f"{args.vocab}: {len(vocab)} words + EOS, but the net predicts "
                         f"{lstm_net.blobs['probs'].shape[2]}")
    if args.features:
        feats = T.read_features(args.features)
        ids = list(range(len(feats)))
    else:
        image_net = caffe.Net(args.image_model, caffe.TEST, weights=args.weights)
        feats = T.image_descriptors(image_net, args.images, args.descriptor, batch=args.batch)
        ids = [os.path.splitext(os.path.basename(p))[0] for p in args.images]
        ids = [int(i) if i.isdigit() else i for i in ids]
    cap = T.Captioner(lstm_net)
    out, rng = [], random.Random(args.seed)
    for b0 in range(0, len(feats), args.batch):
        out += cap.caption(feats[b0:b0 + args.batch], beam_size=args.beam_size, temp=args.temp, rng=rng)
    for i, c in zip(ids, out):
        print(f"{i}\t{sentence(c, vocab)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(T.coco_results(ids, out, vocab), f)
    return 0


def cmd_classify_video(args):
    """One video through a released activity deploy net (LSTM or single frame), as classify_video.py."""
    import json

    import lrcn_native as caffe
    from lrcn_native.tasks import activity as A
    _mode(args.gpu)
    video_file = os.path.isfile(args.frames)
    if args.flow_method and not (args.flow and video_file):
        raise SystemExit("lrcn classify-video: --flow-method computes a video file's flow images: give --flow "
                         "and a video file")
    # before the net: a bad folder or video fails fast
    frames = A.load_video_frames(args.frames, (args.flow_method or "tvl1") if args.flow and video_file else None)
    net = caffe.Net(args.model, caffe.TEST, weights=args.weights)
    label, rows = A.classify_video(net, frames, flow=args.flow, mean=args.mean, crops=not args.no_crops)
    name = args.classes and A.read_class_names(args.classes)[label]
    print(f"{args.frames}: class {label}" + (f" ({name})" if name else ""))
    if args.json:
        result = {"video": args.frames, "class": label, "frames": len(frames), "rows": rows.tolist()}
        if name:
            result["class_name"] = name
        atomic_write_text(args.json, json.dumps(result))
    return 0


def cmd_evaluate_activity(args):
    """Video accuracy of a deploy net over a list of videos (scores saved), or Table-1 fusion of saved scores."""
    import json

    from lrcn_native.tasks import activity as A
    result = {}
    if args.rgb_scores or args.flow_scores:
        if not (args.rgb_scores and args.flow_scores) or args.model:
            raise ValueError("fusion takes --rgb-scores and --flow-scores (and no --model)")
        (v1, labels, rgb), (v2, labels2, flow) = A.load_scores(args.rgb_scores), A.load_scores(args.flow_scores)
        if v1.tolist() != v2.tolist() or labels.tolist() != labels2.tolist():
            raise ValueError(f"{args.rgb_scores} and {args.flow_scores} score different videos or labels")
        result["table"] = A.table_row(labels, rgb, flow, args.fusion)
        print(A.format_table({"video accuracy %": result["table"]}))
        matrices = {c: A.confusion_matrix(labels, s.argmax(axis=1), rgb.shape[1]) for c, s in
                    (("RGB", rgb), ("Flow", flow), (f"{args.fusion[0]:g} RGB", A.fuse(rgb, flow, args.fusion[0])))}
    else:
        import lrcn_native as caffe
        if not (args.list and args.frames and args.model and args.weights and args.scores):
            raise ValueError("scoring takes --list, --frames, --model, --weights and --scores")
        videos = A.read_video_list(args.list)[:args.limit]
        for video, _ in videos:          # every folder checked before the first (slow) video
            A.video_folder(args.frames, video)
        _mode(args.gpu)
        net = caffe.Net(args.model, caffe.TEST, weights=args.weights)
        progress = lambda i, n: print(f"  {i}/{n} videos", file=sys.stderr, flush=True)
        scores = A.evaluate_videos(net, args.frames, videos, args.flow, args.mean, not args.no_crops, progress)
        labels = np.array([label for _, label in videos])
        A.save_scores(args.scores, [v for v, _ in videos], labels, scores)
        result = A.summary(labels, scores)
        print(f"video accuracy {result['accuracy']:.2f}% over {len(videos)} videos; scores: {args.scores}")
        matrices = {"flow" if args.flow else "RGB": np.array(result["confusion"])}
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=1))
    if args.plot:
        classes = len(next(iter(matrices.values())))
        names = A.read_class_names(args.classes) if args.classes else [str(i) for i in range(classes)]
        A.plot_confusion(args.plot, matrices, names)
    return 0


def cmd_score(args):
    """BLEU-1..4, CIDEr-D and ROUGE-L of a COCO results file against COCO reference captions."""
    import json

    from lrcn_native.metrics.caption import score_captions
    from lrcn_native.tasks.captioning import read_references, read_results
    refs = read_references(args.refs)
    scores = score_captions(refs, read_results(args.results, refs), with_meteor=args.meteor)
    for name, value in scores.items():
        print(f"{name}: {value:.4f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(scores, f, indent=1)
    return 0


def cmd_prepare_ucf101(args):
    """UCF-101 videos -> frames, flow images and split lists in the released layout (resumable, parallel;
    split across shards and MPI ranks). Only rank 0 prints the totals; every rank exits 1 if any video failed."""
    from lrcn_native.data import ucf101
    from lrcn_native.distributed import launched_size, world
    shard = ucf101.parse_shard(args.shard) if args.shard else None
    size = ucf101.parse_size(args.size) if args.size else None
    jobs = args.jobs or (1 if launched_size() > 1 else os.cpu_count() or 1)
    s = ucf101.prepare(args.videos, args.out, fps=args.fps, size=size, flow=args.flow, quality=args.quality,
                       jobs=jobs, shard=shard, splits=args.splits, seed=args.seed)
    if not world().is_root:
        return 1 if s["failed"] else 0
    on = f" on {len(s['ranks'])} ranks" if len(s["ranks"]) > 1 else ""
    print(f"{s['videos']} videos{f' (shard {args.shard})' if shard else ''}{on}: {s['prepared']} prepared, "
          f"{s['skipped']} already complete, {len(s['failed'])} failed, in {s['seconds']:.1f} s -> {args.out}")
    if on:
        for r in s["ranks"]:
            print(f"  rank {r['rank']}: {r['videos']} videos, {r['prepared']} prepared, {r['skipped']} already "
                  f"complete, {len(r['failed'])} failed, in {r['seconds']:.1f} s")
    for name, missing in s["lists"].items():
        print(f"{name}: {len(missing)} listed videos not prepared in {args.out}{' (all shards)' if shard else ''}"
              + (f" (first: {', '.join(missing[:5])})" if missing else ""))
    if s["failed"]:
        print("failed (skipped; rerun to retry):")
        for r in s["ranks"]:
            by = f" (rank {r['rank']})" if on else ""
            for video, reason in r["failed"].items():
                print(f"  {video}{by}: {reason}")
    return 1 if s["failed"] else 0


def cmd_demo(args):
    from .tasks import demo
    demo.run(args.parts, out_dir=args.out, quick=args.quick, seed=args.seed)


# The `caffe` tool's gflags, accepted as `-name value` and `-name=value` besides our `--name value`.
_CAFFE_FLAGS = {"solver", "weights", "snapshot", "gpu", "iterations", "model", "phase", "level", "stage",
                "sigint_effect", "sighup_effect",
                # convert_imageset's and compute_image_mean's
                "resize_height", "resize_width", "shuffle", "gray", "encoded", "encode_type", "check_size", "backend"}


def _caffe_syntax(argv):
    """Caffe's single-dash flags rewritten as ours (`-solver s.prototxt` -> `--solver s.prototxt`)."""
    out = []
    for arg in argv:
        name = arg[1:].split("=", 1)[0]
        out.append("-" + arg if arg.startswith("-") and not arg.startswith("--") and name in _CAFFE_FLAGS else arg)
    return out


def _number(kind, low, high=None, above=False):
    """An argparse type: a number of `kind` in [low, high] (above: > low), with an error naming the range."""
    bound = f"{'>' if above else '>='} {low}" if high is None else f"in [{low}, {high}]"

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if not (value > low if above else value >= low) or (high is not None and not value <= high):
            raise argparse.ArgumentTypeError(f"{text}: must be {bound}")
        return value
    return parse


_count, _nonnegative, _positive = _number(int, 1), _number(int, 0), _number(float, 0, above=True)


def _stages(text):
    """--stage a,b (Caffe's comma-separated list; the flag may also be repeated)."""
    return [s for s in text.split(",") if s]


class _HelpFormatter(argparse.HelpFormatter):
    """Shows an option's default after its help, unless it has none or the help already names it."""

    def _get_help_string(self, action):
        text = action.help or ""
        shown = not any(action.default is v for v in (None, False, argparse.SUPPRESS))
        if shown and action.option_strings and "default" not in text:
            text += " (default: %(default)s)"
        return text


def _add_net_state(p, what="NetState"):
    p.add_argument("--level", type=int, default=0, help=f"{what} level")
    p.add_argument("--stage", action="extend", type=_stages, help=f"{what} stages: a,b (comma-separated; repeatable)")


def _add_image_flags(p):
    """Image reading flags shared by convert-imageset and compute-image-mean (Caffe's names and dashed ones)."""
    for side in ("height", "width"):
        p.add_argument(f"--resize_{side}", f"--resize-{side}", type=_nonnegative, default=0,
                       help=f"resize images to this {side} (with the other size; 0: keep)")
    p.add_argument("--gray", action="store_true", help="read images as grey (1 channel)")


def main(argv=None):
    from . import __version__
    from .tasks import demo
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(GlogFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    parser = argparse.ArgumentParser(prog="lrcn", description="lrcn_native: Caffe's command-line tool for LRCN "
                                     "(Caffe's -flag value syntax is accepted too)", formatter_class=_HelpFormatter)
    parser.add_argument("--version", action="version", version=f"lrcn_native {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser = functools.partial(sub.add_parser, formatter_class=_HelpFormatter)
    p = sub.add_parser("demo", help="the paper's findings on embedded synthetic data (CPU, a few minutes)")
    p.add_argument("parts", nargs="*", help="parts to run (default: all, in this order): " +
                   "; ".join(f"{name} ({what})" for name, (_, what) in demo.PARTS.items()))
    p.add_argument("--quick", action="store_true", help="a smaller run with the same ordering of results")
    p.add_argument("--out", default="lrcn_demo", help="folder for results.json, tables and plots")
    p.add_argument("--seed", type=_nonnegative, default=0)
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("time", help="per-layer forward/backward timing (caffe time)")
    p.add_argument("--model", required=True, help="net prototxt")
    p.add_argument("--iterations", type=_count, default=50, help="forward-backward passes timed")
    p.add_argument("--gpu", default=None, help="GPU id, or 0,1 / all: the first is used (CPU when absent)")
    p.add_argument("--phase", default="TRAIN", choices=("TRAIN", "TEST"),
                   help="net phase (deploy nets: TEST)")
    p.add_argument("--input-shape", "--input_shape", action="append", metavar="BLOB=N,C,H,W",
                   help="shape of a data layer's top, timed with synthetic values (repeatable); data layers whose "
                        "files are missing get synthetic inputs of the shapes their parameters declare")
    _add_net_state(p)
    p.set_defaults(func=cmd_time)
    p = sub.add_parser("device_query", help="the CUDA devices and this build's architectures (caffe device_query)")
    p.add_argument("--gpu", default=None, help="device ids to show: 0, 0,1 or all (default: all)")
    p.set_defaults(func=cmd_device_query)
    p = sub.add_parser("inspect", help="layers, blob shapes and parameter counts of a weight file")
    p.add_argument("file")
    p.set_defaults(func=cmd_inspect)
    p = sub.add_parser("convert", help="convert between .caffemodel and .caffemodel.h5")
    p.add_argument("input")
    p.add_argument("output")
    p.set_defaults(func=cmd_convert)
    p = sub.add_parser("upgrade-net", help="V1 net prototxt -> V2 (caffe's upgrade_net_proto_text)")
    p.add_argument("input")
    p.add_argument("output")
    p.set_defaults(func=cmd_upgrade_net)
    p = sub.add_parser("draw-net", help="draw a net prototxt as a graph (pycaffe's draw_net.py; needs pydot and "
                                        "Graphviz)")
    draw.add_arguments(p)
    p.set_defaults(func=cmd_draw_net)
    p = sub.add_parser("upgrade-solver", help="old solver prototxt (solver_type) -> current (caffe's "
                                              "upgrade_solver_proto_text)")
    p.add_argument("input")
    p.add_argument("output")
    p.set_defaults(func=cmd_upgrade_solver)
    p = sub.add_parser("convert-imageset", help="image list -> LMDB of Datums (caffe's convert_imageset)")
    p.add_argument("root", help="folder the list's paths are relative to")
    p.add_argument("list", help="'<path> <label>' lines")
    p.add_argument("db", help="the LMDB folder to create (written as DB.partial, then renamed)")
    _add_image_flags(p)
    p.add_argument("--shuffle", action="store_true", help="shuffle the lines (seeded by --seed)")
    p.add_argument("--seed", type=_nonnegative, default=0, help="seed of --shuffle")
    p.add_argument("--encoded", action="store_true", help="store JPEG/PNG files, not raw pixels")
    p.add_argument("--encode_type", "--encode-type", default="", help="jpg, png or bmp (implies --encoded; "
                   "default: each file's own type)")
    p.add_argument("--check_size", "--check-size", action="store_true", help="fail unless all images have one size")
    p.set_defaults(func=cmd_convert_imageset)
    p = sub.add_parser("compute-image-mean", help="mean image .binaryproto of an LMDB or an image list "
                                                  "(caffe's compute_image_mean)")
    p.add_argument("input", help="LMDB folder, or a list of image paths ('<path> [label]' lines)")
    p.add_argument("output", nargs="?", help="the .binaryproto to write (1 x C x H x W)")
    p.add_argument("--backend", default="lmdb", choices=("lmdb", "leveldb"), help="database kind")
    p.add_argument("--root", default="", help="image list: folder its paths are relative to")
    _add_image_flags(p)
    p.set_defaults(func=cmd_compute_image_mean)
    p = sub.add_parser("extract-features", help="named blobs of a net over its data into HDF5 or LMDB "
                                                "(caffe's extract_features)")
    p.add_argument("weights", help="trained .caffemodel")
    p.add_argument("model", help="net prototxt (built in the TEST phase, reading its own data layers)")
    p.add_argument("blobs", help="blob names, comma-separated")
    p.add_argument("output", help="HDF5 file (a dataset per blob), or with --format lmdb one LMDB folder per "
                                  "blob, comma-separated")
    p.add_argument("num_batches", type=_count, help="forward passes")
    p.add_argument("--format", default="hdf5", choices=("hdf5", "lmdb"), help="output format")
    p.add_argument("--gpu", default=None, help="GPU id (CPU when absent)")
    _add_net_state(p)
    p.set_defaults(func=cmd_extract_features)
    p = sub.add_parser("export-torch", help="a PyTorch state_dict of a net's weights (CNN layers, LSTM with "
                                            "PyTorch's gate order)")
    p.add_argument("weights", help=".caffemodel or .caffemodel.h5")
    p.add_argument("--model", required=True, help="the net prototxt (deploy)")
    p.add_argument("output", help="the .pt file to write")
    p.add_argument("--phase", default="TEST", choices=("TRAIN", "TEST"), help="net phase")
    _add_net_state(p)
    p.set_defaults(func=cmd_export_torch)
    p = sub.add_parser("train", help="train or fine-tune a net (caffe train)")
    p.add_argument("--solver", required=True, help="solver prototxt")
    p.add_argument("--weights", default=None, help="weights to fine-tune from (comma-separated list)")
    p.add_argument("--snapshot", default=None, help=".solverstate to resume from")
    p.add_argument("--gpu", default=None, help="GPU id (default: the solver's solver_mode and device_id); 0,1 or all: "
                   "one process per GPU, gradients averaged over NCCL")
    p.add_argument("--plot", default=None, help="PNG of loss and test outputs per iteration, updated while training")
    _add_net_state(p, "train_state")
    for sig, default in (("sigint", "stop"), ("sighup", "snapshot")):
        p.add_argument(f"--{sig}-effect", f"--{sig}_effect", default=default, choices=("stop", "snapshot", "none"),
                       help=f"on {sig.upper()}: snapshot and stop, snapshot and go on, or ignore it")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("test", help="score a trained net over some batches (caffe test)")
    p.add_argument("--model", required=True, help="net prototxt")
    p.add_argument("--weights", required=True, help="trained weights (comma-separated list)")
    p.add_argument("--iterations", type=_count, default=50, help="test batches scored")
    p.add_argument("--gpu", default=None, help="GPU id, or 0,1 / all: the first is used (CPU when absent)")
    _add_net_state(p)
    p.set_defaults(func=cmd_test)
    p = sub.add_parser("prepare-captions", help="captions -> vocabulary and HDF5 sentence streams",
                       description=_SERIAL_PREP)
    p.add_argument("--format", choices=("coco", "karpathy", "flickr-tokens"), default="coco",
                   help="captions_*.json (one file per split), a Karpathy-split dataset_*.json (the same file "
                        "for each split), or Flickr30k's results_*.token")
    p.add_argument("--train", required=True, help="training captions (the vocabulary comes from them)")
    p.add_argument("--val", help="validation captions")
    p.add_argument("--test", help="test captions")
    p.add_argument("--images", required=True, help="image root folder")
    p.add_argument("--out", required=True, help="output folder (<split>_aligned_20_batches/ per split)")
    p.add_argument("--vocab", help="an existing vocabulary.txt instead of building one")
    p.add_argument("--min-count", type=_nonnegative, default=5)
    p.add_argument("--max-words", type=_count, default=20)
    p.add_argument("--unaligned", action="store_true", help="no padding, truncation or image alignment")
    p.add_argument("--skip-missing", action="store_true", help="skip (and count) missing images instead of failing")
    p.set_defaults(func=_rank0_only(cmd_prepare_captions))
    p = sub.add_parser("prepare-tacos", help="video semantic representations + sentences -> streams and nets "
                                          "(Table 5's encoder-decoder, CRF-max and CRF-prob decoders)",
                       description=_SERIAL_PREP)
    p.add_argument("--format", choices=("json", "smt"), default="json",
                   help="our JSON format (lrcn_native/data/semantic.py), or the SMT baseline's parallel text: "
                        "PREFIX.sr, PREFIX.en and optional PREFIX.ids, PREFIX.crf")
    p.add_argument("--train", required=True, help="training split (JSON file, or the SMT files' PREFIX)")
    p.add_argument("--test", help="test split")
    p.add_argument("--slots", default="subject,verb,object,tool", help="slot order of the .sr labels (smt)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--min-count", type=_nonnegative, default=5)
    p.add_argument("--max-words", type=_count, default=20)
    p.add_argument("--buffer-size", type=_count, default=100)
    p.add_argument("--hidden", type=_count, default=1000, help="LSTM units of the nets written")
    p.set_defaults(func=_rank0_only(cmd_prepare_tacos))
    p = sub.add_parser("caption", help="caption images with a trained LRCN (greedy, beam search, sampling)")
    p.add_argument("images", nargs="*", help="image files")
    p.add_argument("--features", help=".npy/.npz/.h5 of precomputed descriptors (N x 1000 fc8) instead of images")
    p.add_argument("--weights", required=True, help="trained LRCN .caffemodel")
    p.add_argument("--vocab", required=True, help="vocabulary.txt")
    p.add_argument("--model", default=os.path.join(_MODELS, "lrcn_word_to_preds.deploy.prototxt"),
                   help="T=1 word-to-preds deploy net")
    p.add_argument("--image-model", default=os.path.join(_MODELS, "caffenet.prototxt"), help="image net")
    p.add_argument("--descriptor", default="fc8", help="the image net blob fed to the LSTM")
    p.add_argument("--beam-size", type=_count, default=1)
    p.add_argument("--temp", type=_positive, default=None, help="sample with this inverse temperature instead")
    p.add_argument("--seed", type=_nonnegative, default=0, help="random seed for sampling")
    p.add_argument("--batch", type=_count, default=100, help="images per decoding batch")
    p.add_argument("--json", help="write COCO results (image_id, caption) plus word_ids here")
    p.add_argument("--gpu", default=None, help="GPU id (CPU when absent)")
    p.add_argument("--stage", action="extend", type=_stages,
                   help="NetState stage of the deploy net (repeatable): unfactored, 2-layer (default: factored)")
    p.set_defaults(func=cmd_caption)
    p = sub.add_parser("classify-video", help="one video through a released activity deploy net (classify_video.py)")
    p.add_argument("frames", help="folder of the video's frames (*.jpg / *.png, in name order), or a video file "
                                  "(the `video` extra)")
    p.add_argument("--model", required=True, help="deploy net: deploy_lstm.prototxt or deploy_singleFrame.prototxt")
    p.add_argument("--weights", required=True, help="trained .caffemodel")
    p.add_argument("--flow", action="store_true", help="the frames are flow images (flow mean; single-frame nets: the x-flow quirk)")
    p.add_argument("--flow-method", choices=("tvl1", "farneback", "lucas_kanade"), default=None,
                   help="with --flow and a video file: compute its flow images this way (default: tvl1)")
    p.add_argument("--mean", type=float, nargs=3, metavar=("B", "G", "R"),
                   help="per-channel mean after RGB -> BGR (default: the released script's, 103.939 116.779 "
                        "128.68 for RGB, 128 for flow)")
    p.add_argument("--no-crops", action="store_true", help="one view per frame (resized to 227 x 227), not 10 crops")
    p.add_argument("--classes", help="class names, one per line or 'index name' as UCF-101's classInd.txt")
    p.add_argument("--json", help="write the class and the per-frame-row probabilities (crop means, clip order)")
    p.add_argument("--gpu", default=None, help="GPU id (CPU when absent)")
    p.set_defaults(func=cmd_classify_video)
    p = sub.add_parser("evaluate-activity", help="video accuracy of an activity net over a video list, or "
                                                 "late fusion (Table 1) of saved RGB and flow scores")
    p.add_argument("--list", help="videos: '<Class>/<video> <label>' lines (ucf101_split1_testVideos.txt)")
    p.add_argument("--frames", help="frame root: <root>/<video>/ (or <root>/<Class>/<video>/) per video")
    p.add_argument("--model", help="deploy net (deploy_lstm.prototxt or deploy_singleFrame.prototxt)")
    p.add_argument("--weights", help="trained .caffemodel")
    p.add_argument("--flow", action="store_true", help="the frames are flow images")
    p.add_argument("--mean", type=float, nargs=3, metavar=("B", "G", "R"), help="as classify-video")
    p.add_argument("--no-crops", action="store_true", help="one view per frame (resized), not 10 crops")
    p.add_argument("--limit", type=_count, default=None, help="only the first N videos of the list")
    p.add_argument("--scores", help="write the per-video scores here (.npz), for fusion without the nets")
    p.add_argument("--rgb-scores", help="fusion: RGB scores (.npz from a scoring run)")
    p.add_argument("--flow-scores", help="fusion: flow scores of the same videos")
    p.add_argument("--fusion", type=_number(float, 0, 1), nargs="+", default=[1 / 2, 1 / 3], metavar="W",
                   help="fusion weights w of w*RGB + (1-w)*flow (default: the paper's 1/2 and 1/3)")
    p.add_argument("--classes", help="class names for the plot (classInd.txt or one name a line)")
    p.add_argument("--json", help="write accuracy, per-class accuracy and confusion (or the fusion row) here")
    p.add_argument("--plot", help="confusion matrix PNG (needs matplotlib: pip install 'lrcn_native[plot]')")
    p.add_argument("--gpu", default=None, help="GPU id (CPU when absent)")
    p.set_defaults(func=cmd_evaluate_activity)
    p = sub.add_parser("score", help="BLEU-1..4, CIDEr-D, ROUGE-L of results against reference captions")
    p.add_argument("--refs", required=True, help="COCO captions_*.json")
    p.add_argument("--results", required=True, help="COCO results JSON ([{image_id, caption}])")
    p.add_argument("--meteor", action="store_true", help="also METEOR (needs Java and pip install 'lrcn_native[eval]')")
    p.add_argument("--json", help="write the scores here")
    p.set_defaults(func=cmd_score)
    p = sub.add_parser("prepare-ucf101", help="videos -> frames, flow images and split lists (released layout)",
                       description="Resumable. Under mpiexec/srun the ranks split the videos (video i to rank i mod "
                                   "P, within --shard's part); rank 0 writes the settings and lists and prints "
                                   "the totals; exit status 1 when any video failed.")
    p.add_argument("videos", help="folder of videos (searched recursively; folders of frames also accepted)")
    p.add_argument("out", help="output folder: frames/, flow_images/, ucf101_split<N>_{train,test}Videos.txt")
    p.add_argument("--flow", default="tvl1", choices=("tvl1", "farneback", "lucas_kanade", "none"),
                   help="flow method (tvl1, farneback: pip install 'lrcn_native[flow]'; lucas_kanade: numpy, "
                        "sub-pixel motion only)")
    p.add_argument("--fps", type=_positive, default=None, help="frames per second to extract (default: every frame)")
    p.add_argument("--size", default=None, help="resize frames to WIDTHxHEIGHT (default: keep; the released "
                                                "extract_frames.sh defaults to 256x256)")
    p.add_argument("--quality", type=_number(int, 1, 100), default=75, help="JPEG quality of frames and flow images")
    p.add_argument("--jobs", type=_count, default=None,
                   help="worker processes per rank (default: one per core; 1 under mpiexec/srun, one rank per core)")
    p.add_argument("--shard", default=None, help="K/N: prepare only the K-th of N interleaved parts (1 <= K <= N), "
                                                 "e.g. one per machine of a scheduler without MPI; composes with "
                                                 "the ranks of `mpiexec -n P` (each shard split again P ways)")
    p.add_argument("--splits", default=None, help="folder with classInd.txt + trainlist0N.txt/testlist0N.txt "
                                                  "(or released lists): write the lists into OUT")
    p.add_argument("--seed", type=_nonnegative, default=0, help="shuffle of the training lists made from official splits")
    p.set_defaults(func=cmd_prepare_ucf101)
    args = parser.parse_args(_caffe_syntax(sys.argv[1:] if argv is None else argv))
    args.argv = sys.argv[1:] if argv is None else list(argv)  # what `train --gpu 0,1` runs once per GPU
    try:
        return args.func(args)
    except BrokenPipeError:  # `lrcn inspect ... | head`: the reader has gone; stay quiet, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (ValueError, RuntimeError, OSError, KeyError) as e:
        print(f"lrcn {args.command}: error: {e}", file=sys.stderr)
        from . import parallel
        if parallel.solver_count() > 1:  # the other ranks would wait for this one: end them all now
            parallel.abort(f"lrcn {args.command}: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
