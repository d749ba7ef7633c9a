"""What several processes get from this machine (or cluster) over MPI (issue 15): all-reduce bandwidth, for
data-parallel training, and the per-rank rates of UCF-101 preparation, for sharded preparation.

  allreduce  float32 buffers of 4 KB .. 256 MB summed over the P ranks by mpi4py's buffer Allreduce and its
             non-blocking Iallreduce + Wait: time (the slowest rank's, best of a few), algorithm bandwidth
             S/t and bus bandwidth S/t · 2(P-1)/P (nccl-tests' formula: the bytes each rank moves in a ring);
             and how much of an Iallreduce is hidden behind computing meanwhile (see `overlap`)
  pingpong   the MPI library's own point-to-point bandwidth in the same run (mpi4py.bench pingpong, ranks 0-1)
  memcpy     S/t of numpy.copyto over 256 MB on rank 0 alone and on every rank at once: the bound of an
             intranode collective, which copies through shared memory
  prepare    `lrcn prepare-ucf101`'s rates on generated 320x240 videos (UCF-101's size), on rank 0 alone and
             on all P ranks, each rank pinned to a core of its own (rates per core, as one rank per core gets
             them): frames/s of decode + JPEG, and flow pairs/s per method (read the frames' JPEGs, flow, write
             the flow JPEGs); per rank, aggregate, and scaling efficiency aggregate / (P x 1-rank)

Timings are the best of a few runs on a shared machine: compare within one run. Run it under MPI; run plainly,
it starts itself under `mpiexec -n 2` (without mpi4py or mpiexec: the 1-rank preparation rates only).

    mpiexec -n 2 python benchmarks/bench_allreduce.py [--max-mb 256] [--quick]
"""
import argparse
import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time

import common

import numpy as np

from lrcn_native import distributed
from lrcn_native.data import ucf101
from lrcn_native.data.flow import FLOW_METHODS, check_flow_method
from lrcn_native.data.video import write_video

FRAME = (240, 320)   # UCF-101's frames, H x W


def relaunch_under_mpi(ranks=2):
    """Run plainly: this script again under `mpiexec -n ranks`, if MPI is there (then exits with its status)."""
    if distributed.launched_size() > 1:
        return
    if shutil.which("mpiexec") is None or importlib.util.find_spec("mpi4py") is None:
        print("no mpiexec or mpi4py (pip install 'lrcn_native[mpi]'): 1-rank preparation rates only")
        return
    sys.exit(subprocess.run(["mpiexec", "-n", str(ranks), sys.executable] + sys.argv).returncode)


def say(world, text):
    if world.is_root:
        print(text, flush=True)


# ---- all-reduce ----------------------------------------------------------------------------------------------

def slowest(world, seconds):
    from mpi4py import MPI
    return world.comm.allreduce(seconds, op=MPI.MAX)


def allreduce(world, sizes, repeat):
    """[{bytes, blocking: {...}, nonblocking: {...}}] for each buffer size."""
    from mpi4py import MPI
    comm, p, rows = world.comm, world.size, []
    for nbytes in sizes:
        send = np.full(nbytes // 4, world.rank + 1, np.float32)
        recv = np.empty_like(send)
        ways = {"blocking": lambda: comm.Allreduce(send, recv, op=MPI.SUM),
                "nonblocking": lambda: comm.Iallreduce(send, recv, op=MPI.SUM).Wait()}
        row = {"bytes": nbytes}
        reps = repeat if nbytes >= 1 << 24 else 4 * repeat
        for way, run in ways.items():
            runs = []
            for _ in range(reps + 1):                            # the first is a warm-up
                comm.Barrier()
                t0 = time.perf_counter()
                run()
                runs.append(slowest(world, time.perf_counter() - t0))
            assert recv[0] == recv[-1] == p * (p + 1) / 2, f"{way} all-reduce gave {recv[0]}"
            best = min(runs[1:])
            row[way] = {"best_seconds": best, "median_seconds": float(np.median(runs[1:])),
                        "algbw_GBps": nbytes / best / 1e9, "busbw_GBps": nbytes / best / 1e9 * 2 * (p - 1) / p}
        row["overlap"] = overlap(world, lambda: comm.Iallreduce(send, recv, op=MPI.SUM),
                                 row["blocking"]["best_seconds"], reps)
        rows.append(row)
        say(world, f"allreduce {nbytes / 1024:>10.0f} KB  "
                   + "  ".join(f"{w} {row[w]['best_seconds'] * 1e3:9.3f} ms busbw {row[w]['busbw_GBps']:6.2f} GB/s"
                               for w in ways) + f"  overlap {row['overlap']['fraction']:5.2f}")
    return rows


def overlap(world, start, allreduce_seconds, reps):
    """How much of a non-blocking all-reduce proceeds while the rank computes (as backward would, between
    launching a bucket and waiting for it): compute C of about the all-reduce's time A, then Iallreduce;
    compute; Wait takes T, and the fraction hidden is (C + A - T) / min(C, A): 0 when the MPI library only
    progresses inside MPI calls, 1 when it runs fully in the background."""
    work = np.ones(1 << 20, np.float32)                    # 4 MB: a pass is memory-bound, ~0.3 ms

    def compute(passes):
        for _ in range(passes):
            np.multiply(work, 1.0000001, out=work)
    one = common.best_seconds(lambda: compute(1), 3)
    passes = world.comm.bcast(max(1, round(allreduce_seconds / one)))
    c = slowest(world, common.best_seconds(lambda: compute(passes), reps))

    def both():
        request = start()
        compute(passes)
        request.Wait()
    world.comm.Barrier()
    t = slowest(world, common.best_seconds(both, reps))
    return {"compute_seconds": c, "both_seconds": t,
            "fraction": (c + allreduce_seconds - t) / min(c, allreduce_seconds)}


def pingpong(world, max_bytes, quick):
    """The MPI library's own bandwidth test (mpi4py.bench pingpong between ranks 0 and 1): [{bytes, GBps}]."""
    from mpi4py.bench import pingpong as bench
    loops = ["-s", "1", "-l", "5", "--loop-large", "3", "--loop-huge", "2"] if quick else \
            ["-s", "2", "-l", "50", "--loop-large", "20", "--loop-huge", "5"]
    rows = [{"bytes": n, "mean_seconds": t, "GBps": n / t / 1e9}
            for n, t, _ in bench(world.comm, ["-m", "4096", "-n", str(max_bytes)] + loops, verbose=False)]
    for r in rows[::2]:
        say(world, f"pingpong  {r['bytes'] / 1024:>10.0f} KB  {r['GBps']:6.2f} GB/s")
    return rows


def memcpy(world, nbytes, repeat):
    """S/t of numpy.copyto over nbytes on rank 0 alone, then on every rank at once (each rank's own)."""
    src = np.ones(nbytes // 4, np.float32)
    dst = np.empty_like(src)
    alone = common.best_seconds(lambda: np.copyto(dst, src), repeat) if world.is_root else None
    world.comm.Barrier()
    together = slowest(world, common.best_seconds(lambda: np.copyto(dst, src), repeat))
    result = {"bytes": nbytes, "rank0_alone_GBps": world.comm.bcast(alone and nbytes / alone / 1e9),
              "every_rank_GBps": nbytes / together / 1e9}
    say(world, f"memcpy    {nbytes >> 10:>10d} KB  rank 0 alone {result['rank0_alone_GBps']:.2f} GB/s, "
               f"on all {world.size} ranks at once {result['every_rank_GBps']:.2f} GB/s each")
    return result


# ---- preparation rates ---------------------------------------------------------------------------------------

def make_videos(folder, count, frames, seed):
    """count mpeg4 videos of `frames` 320x240 frames: smooth gratings drifting ~1 px per frame (compressible,
    with real motion for the flow)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:FRAME[0], 0:FRAME[1]].astype(np.float32)
    for v in range(count):
        f, phase, (dx, dy) = rng.uniform(0.02, 0.08, (3, 2)), rng.uniform(0, 6.3, 3), rng.uniform(-1.5, 1.5, 2)

        def frame(t):
            grey = sum(np.sin(f[i, 0] * (xx - dx * t) + f[i, 1] * (yy - dy * t) + phase[i]) for i in range(3))
            return np.repeat(np.clip(grey * 40 + 128, 0, 255).astype(np.uint8)[..., None], 3, 2)
        write_video(os.path.join(folder, f"v_Bench_g{v:02d}_c01.avi"), (frame(t) for t in range(frames)))


@contextlib.contextmanager
def one_core(cpu):
    """The block runs on core `cpu` alone where the OS lets us pin (Linux): a rate per core, whatever threads
    the libraries start (PyAV decodes with ffmpeg's threads, OpenCV has its own pool)."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {sorted(before)[cpu % len(before)]})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def run_prepare(world, alone, videos, out, flow, per_video):
    """One timed `prepare`, each rank on a core of its own, by rank 0 alone (the others wait) or by every rank:
    per-rank items/s (items: per_video per video), the aggregate over the slowest rank's time, and the ranks'
    seconds."""
    if alone:
        parts = None
        if world.is_root:
            with one_core(0):
                parts = ucf101.prepare(videos, out, flow=flow, progress=False, ranks=distributed.World())["ranks"]
        parts = world.comm.bcast(parts) if world.size > 1 else parts
    else:
        with one_core(world.rank):
            parts = ucf101.prepare(videos, out, flow=flow, progress=False, ranks=world)["ranks"]
    assert all(not p["failed"] and p["prepared"] == p["videos"] for p in parts), parts
    rates = [p["videos"] * per_video / p["seconds"] for p in parts]
    return {"ranks": len(parts), "items": sum(p["videos"] for p in parts) * per_video,
            "per_rank_per_s": rates, "aggregate_per_s": sum(p["videos"] for p in parts) * per_video
            / max(p["seconds"] for p in parts), "seconds": [p["seconds"] for p in parts]}


def scaling(world, what, unit, runs):
    one, many = runs.get("1"), runs.get(str(world.size))
    line = f"prepare   {what:22s} 1 rank {one['aggregate_per_s']:8.2f} {unit}"
    if many:
        runs["efficiency"] = many["aggregate_per_s"] / (world.size * one["aggregate_per_s"])
        line += (f" | {world.size} ranks {many['aggregate_per_s']:8.2f} {unit} "
                 f"(per rank {min(many['per_rank_per_s']):.2f}..{max(many['per_rank_per_s']):.2f}), "
                 f"efficiency {runs['efficiency']:.2f}")
    say(world, line)
    return runs


def prepare_rates(world, quick, methods, workdir):
    """Decode + JPEG frames/s, then flow pairs/s per method, on 1 rank and on all ranks; the videos and outputs
    live in a temporary folder under workdir (which every rank must see)."""
    p, result = world.size, {"frame": [FRAME[1], FRAME[0]]}
    counts = {"decode": (2 * p, 4) if quick else (4 * p, 50), "flow": (p, 3) if quick else (2 * p, 6)}
    result["videos"] = {k: {"videos": n, "frames": f} for k, (n, f) in counts.items()}
    root = tempfile.mkdtemp(prefix="bench_allreduce_", dir=workdir) if world.is_root else None
    root = world.comm.bcast(root) if p > 1 else root
    try:
        if world.is_root:
            for k, (n, f) in counts.items():
                os.makedirs(os.path.join(root, k))
                make_videos(os.path.join(root, k), n, f, seed=len(k))
        barrier(world)
        frames = counts["decode"][1]
        runs = {str(r): run_prepare(world, r == 1, os.path.join(root, "decode"), os.path.join(root, f"frames{r}"),
                                    "none", frames) for r in sorted({1, p})}
        result["decode_jpeg_frames"] = scaling(world, "decode+JPEG", "frames/s", runs)
        flow_out = os.path.join(root, "flow_out")
        run_prepare(world, False, os.path.join(root, "flow"), flow_out, "none", 1)      # the frames, untimed
        result["flow_pairs"] = {}
        for method in methods:
            runs = {}
            for r in sorted({1, p}):
                if world.is_root:    # a fresh start for this method: no flow images, no recorded method
                    shutil.rmtree(os.path.join(flow_out, "flow_images"), ignore_errors=True)
                    os.remove(os.path.join(flow_out, ucf101.SETTINGS))
                barrier(world)
                runs[str(r)] = run_prepare(world, r == 1, os.path.join(root, "flow"), flow_out, method,
                                           counts["flow"][1] - 1)
            result["flow_pairs"][method] = scaling(world, f"flow {method}", "pairs/s", runs)
    finally:
        barrier(world)
        if world.is_root:
            shutil.rmtree(root, ignore_errors=True)
    return result


def barrier(world):
    if world.size > 1:
        world.comm.Barrier()


def usable_methods(quick):
    methods = []
    for method in FLOW_METHODS:
        try:
            check_flow_method(method)
            methods.append(method)
        except (ValueError, RuntimeError, ImportError) as e:
            print(f"flow {method}: skipped: {e}")
    return [m for m in methods if not (quick and m == "tvl1")]   # ~1 s a pair: too slow for a smoke run


def main():
    relaunch_under_mpi()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max-mb", type=int, default=256, help="largest all-reduce buffer, MB (from 4 KB, x4 steps)")
    ap.add_argument("--workdir", default=None, help="folder for the generated videos, seen by every rank (default: "
                                                   "the system's temporary folder: one machine)")
    common.add_arguments(ap, "buffers up to 64 KB, a few tiny videos, no TV-L1 (a smoke run)")
    args = ap.parse_args()
    world = distributed.world()
    max_bytes = 64 << 10 if args.quick else args.max_mb << 20
    sizes = [4096 << 2 * k for k in range(12) if 4096 << 2 * k <= max_bytes]
    repeat = 1 if args.quick else 3
    result = common.header(device="cpu", quick=args.quick, ranks=world.size) if world.is_root else None
    if world.size > 1:
        import mpi4py
        from mpi4py import MPI
        if world.is_root:
            result["mpi"] = {"mpi4py": mpi4py.__version__, "library": MPI.Get_library_version().splitlines()[0]}
        allreduced = allreduce(world, sizes, repeat)
        pinged = pingpong(world, max_bytes, args.quick)
        copied = memcpy(world, min(max_bytes, 256 << 20), repeat)
        if world.is_root:
            result.update(allreduce=allreduced, pingpong=pinged, memcpy=copied)
    methods = usable_methods(args.quick) if world.is_root else None
    methods = world.comm.bcast(methods) if world.size > 1 else methods
    prepared = prepare_rates(world, args.quick, methods, args.workdir)
    if world.is_root:
        result["prepare"] = prepared
        common.save(result, args, "allreduce")


if __name__ == "__main__":
    main()
