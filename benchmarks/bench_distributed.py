"""Data-parallel training over MPI on this machine: 1 and 2 ranks (one thread each) training the factored
LRCN's language part at the released sizes (Embed 8801→1000, LSTM 1000, LSTM 1000 with a 1000-d static
input, InnerProduct → 8801: 37.6 M parameters, 150 MB of gradients), T=20 words × N sentences per rank.

Weak scaling, as Caffe's multi-GPU training: the batch per rank is fixed, so P ranks train with P·N sentences
per iteration. For each P, ``mpiexec -n P`` runs this file with --worker; rank 0 reports (medians over
--iters iterations, all ranks started together):
  iteration_s     one solver step with the bucketed all-reduce overlapping backward (what `lrcn train` does)
  no_overlap_s    the same with every bucket reduced after backward
  compute_s       forward, backward and update alone (no reduction): what P ranks sharing the cores cost
  allreduce_s     the whole gradient's reduction alone (copy into buckets, all-reduce, scale back)
  exposed_s       time the update waited for the reductions, per step, with overlap
Derived: scaling efficiency at P = throughput_P / (P · throughput_1) with throughput = P·N / iteration_s;
all-reduce share = allreduce_s / iteration_s; overlap gain = no_overlap_s / iteration_s.

On a shared 2-core machine the 2-rank numbers include the other users' load: compare ratios within one run.

    python benchmarks/bench_distributed.py [--quick] [--batch 10] [--iters 5]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

import common  # first: the baseline import order and the package to time

V, H, T = 8801, 1000, 20


def worker(args):
    """One rank: builds the solver (under mpiexec it joins the run), times the variants, rank 0 writes JSON."""
    import lrcn_native as caffe
    from lrcn_native.backend import K
    from lrcn_native.tasks.captioning_demo import language_net_text
    K.gemm_cpu_set_threads(1)
    vocab, hidden, t = (500, 64, 5) if args.quick else (V, H, T)
    folder = tempfile.mkdtemp()
    try:
        net = os.path.join(folder, "net.prototxt")
        with open(net, "w") as f:
            f.write(language_net_text(vocab, hidden, t, args.batch, hidden))
        solver_file = os.path.join(folder, "solver.prototxt")
        with open(solver_file, "w") as f:
            f.write(f'net: "{net}" base_lr: 0.01 momentum: 0.9 lr_policy: "fixed" clip_gradients: 10 max_iter: 1000 '
                    f'display: 0 snapshot_after_train: false random_seed: 1 solver_mode: CPU\n')
        solver = caffe.SGDSolver(solver_file)
    finally:
        shutil.rmtree(folder)
    rng = np.random.default_rng(caffe.solver_rank())
    blobs = solver.net.blobs
    blobs["fc8"].data[...] = rng.standard_normal(blobs["fc8"].shape)
    blobs["cont_sentence"].data[...] = 1
    blobs["cont_sentence"].data[0] = 0
    blobs["input_sentence"].data[...] = rng.integers(0, vocab, blobs["input_sentence"].shape)
    blobs["target_sentence"].data[...] = rng.integers(0, vocab, blobs["target_sentence"].shape)
    dp = solver.parallel
    barrier = dp.engine.comm.Barrier if dp is not None else (lambda: None)

    def median(fn):
        fn()  # warm-up (the first step also broadcasts rank 0's weights)
        times = []
        for _ in range(args.iters):
            barrier()
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return float(np.median(times))

    def compute():
        solver.net.clear_param_diffs()
        solver.net.forward_backward()
        solver.apply_update()
    result = {"ranks": caffe.solver_count(), "compute_s": median(compute)}
    if dp is not None:
        dp.wait_seconds = 0.0
        result["iteration_s"] = median(lambda: solver.step(1))
        result["exposed_s"] = dp.wait_seconds / (args.iters + 1)
        dp.overlap = False
        result["no_overlap_s"] = median(lambda: solver.step(1))
        result["allreduce_s"] = median(dp.on_gradients_ready)
        result["buckets"] = len(dp.buckets)
    else:  # one process: a step is the compute
        result["iteration_s"] = result["no_overlap_s"] = median(lambda: solver.step(1))
        result["allreduce_s"] = result["exposed_s"] = 0.0
    result["parameters"] = sum(p.count for p in solver.net.learnable_params)
    if caffe.solver_rank() == 0:
        with open(args.worker, "w") as f:
            json.dump(result, f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_arguments(ap)
    ap.add_argument("--batch", type=int, default=10, help="sentences per rank (N)")
    ap.add_argument("--iters", type=int, default=5, help="timed iterations per variant")
    ap.add_argument("--ranks", default="1,2", help="rank counts to run")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # the JSON rank 0 writes
    args = ap.parse_args()
    if args.quick:
        args.batch, args.iters = 2, 2
    if args.worker:
        return worker(args)
    if shutil.which("mpiexec") is None:
        sys.exit("bench_distributed.py needs mpiexec and mpi4py: pip install 'lrcn_native[mpi]'")
    import lrcn_native
    results = common.header(device="cpu", quick=args.quick, batch_per_rank=args.batch, iters=args.iters,
                            threads_per_rank=1, words=5 if args.quick else T)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=os.path.dirname(os.path.dirname(lrcn_native.__file__)))
    runs = []
    for p in [int(x) for x in args.ranks.split(",")]:
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            cmd = ["mpiexec", "-n", str(p), sys.executable, os.path.abspath(__file__), "--worker", out.name,
                   "--batch", str(args.batch), "--iters", str(args.iters)] + (["--quick"] if args.quick else [])
            subprocess.run(cmd, env=env, check=True)
            run = json.load(open(out.name))
        run["sentences_per_s"] = p * args.batch / run["iteration_s"]
        run["allreduce_share"] = run["allreduce_s"] / run["iteration_s"]
        run["overlap_gain"] = run["no_overlap_s"] / run["iteration_s"]
        runs.append(run)
        print(f"{p} rank(s): {run['iteration_s'] * 1e3:.0f} ms/iter ({run['sentences_per_s']:.1f} sentences/s), "
              f"compute alone {run['compute_s'] * 1e3:.0f} ms, all-reduce alone {run['allreduce_s'] * 1e3:.0f} ms "
              f"({100 * run['allreduce_share']:.0f}% of an iteration), waited {run['exposed_s'] * 1e3:.0f} ms, "
              f"without overlap {run['no_overlap_s'] * 1e3:.0f} ms (gain {run['overlap_gain']:.2f}x)")
    base = next((r for r in runs if r["ranks"] == 1), None)
    for run in runs:
        if base is not None:
            run["scaling_efficiency"] = run["sentences_per_s"] / (run["ranks"] * base["sentences_per_s"])
            print(f"{run['ranks']} rank(s): scaling efficiency {100 * run['scaling_efficiency']:.0f}%")
    results["runs"] = runs
    common.save(results, args, "distributed_cpu")


if __name__ == "__main__":
    main()
