"""Activity recognition throughput on UCF-101's shapes (LRCN §4), ours beside PyTorch in the same run.

  train     LRCN-fc6 training (bench_train.py's iteration: forward + backward + the paper's SGD update) at
            --clips clips × 16 frames, in frames/s; the paper's batch is --clips 24 (the default, 4, keeps the
            run short on a CPU: one iteration of 24 clips takes ~10 s there)
  data      SequenceData's frames/s (decoding 320×240 JPEGs, the released sampler and transforms; its prefetch
            thread alone): what training needs it to outrun
  evaluate  the released classify_video.py protocol: per 16-frame clip, 10 crops (caffe.io.oversample) of
            each frame, preprocessing, and the deploy net (lrcn_activity.prototxt 'deploy', 160 rows); videos/s
            for a video of --video-frames frames (UCF-101's mean, ~7.2 s at 25 fps: 180 frames, 23 clips of
            stride 8), preprocessing counted once for both nets; PyTorch runs the same model in eval mode
  flow      pairs/s of lrcn_native.data.flow.compute_flow(prev_grey, next_grey, method) at 320×240 for TV-L1
            and Farneback (a method is skipped, saying why, when compute_flow or its extra is missing)

Times are the fastest of a few runs (medians for training) on a shared machine: compare within one run.

    python benchmarks/bench_activity.py [--clips 24] [--iters 2] [--video-frames 180] [--no-torch] [--quick]
"""
import argparse
import os
import tempfile
import time

import bench_train
import common

import numpy as np
from PIL import Image

import lrcn_native as caffe
from lrcn_native import io
from lrcn_native.data.clips import released_clip_starts
from lrcn_native.proto.text import parse

MODEL = bench_train.MODEL
T = 16
FLOW_METHODS = ("tvl1", "farneback")


def train(clips, iters, torch_too):
    case = dict(clips=clips, frames=T * clips)
    runs, loss = bench_train.ours(clips, iters, gpu=False)
    case["ours"] = dict(bench_train.summary(runs, clips), loss=loss)
    if torch_too:
        runs, loss = bench_train.pytorch(clips, iters, gpu=False)
        case["pytorch"] = dict(bench_train.summary(runs, clips), loss=loss)
    for who in ("ours", "pytorch"):
        if who in case:
            print(f"train     {clips} clips × {T} frames  {who:8s} {case[who]['images_per_s']:7.1f} frames/s  "
                  f"({case[who]['seconds_per_iter']:.2f} s/iter)", flush=True)
    return case


def smooth_image(rng, h, w, channels):
    """A natural-looking (compressible) image: a few random gratings plus a little noise, uint8."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, channels), np.float32)
    for _ in range(4):
        f, phase, amp = rng.uniform(0.01, 0.08, 2), rng.uniform(0, 6.3, channels), rng.uniform(20, 50)
        img += amp * np.sin(xx[..., None] * f[0] + yy[..., None] * f[1] + phase)
    return np.clip(img + 128 + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)


def data(clips, batches):
    """Frames/s of SequenceData producing ``batches`` batches of ``clips`` × 16 frames of 320×240 JPEGs."""
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        lines = []
        for v in range(3):
            os.makedirs(os.path.join(tmp, f"v{v}"))
            for k in range(1, 31):
                Image.fromarray(smooth_image(rng, 240, 320, 3)).save(os.path.join(tmp, f"v{v}", f"v{v}.{k:04d}.jpg"))
            lines.append(f"C/v{v} {v}")
        with open(os.path.join(tmp, "list.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
        net = caffe.Net(parse(f'layer {{ name: "data" type: "SequenceData" top: "data" top: "label" top: "cm" '
                              f'sequence_data_param {{ source: "{tmp}/list.txt" root_folder: "{tmp}/" frames: {T} '
                              f'buffer_size: {clips} seed: 1 }} }}', "bench_activity_data"), caffe.TRAIN)
        net.forward()  # the first batch (the thread starts here)
        t0 = time.perf_counter()
        for _ in range(batches):
            net.forward()  # the consumer is instant: this waits for the producer
        seconds = (time.perf_counter() - t0) / batches
    frames = T * clips
    print(f"data      SequenceData {frames / seconds:7.1f} frames/s  ({seconds:.2f} s per {frames}-frame batch)",
          flush=True)
    return dict(clips=clips, frames=frames, seconds_per_batch=seconds, frames_per_s=frames / seconds)


def evaluate(crops, video_frames, repeat, torch_too):
    """Per-clip seconds of preprocessing and of each net's forward; videos/s for one video of video_frames."""
    rng = np.random.default_rng(0)
    frames = [smooth_image(rng, 240, 320, 3).astype(np.float32) / 255 for _ in range(T)]  # as caffe.io loads
    rows = T * crops
    transformer = io.Transformer({"data": (rows, 3, 227, 227)})
    transformer.set_raw_scale("data", 255)
    transformer.set_mean("data", np.array([103.939, 116.779, 128.68]))
    transformer.set_channel_swap("data", (2, 1, 0))
    transformer.set_transpose("data", (2, 0, 1))
    batch = np.empty((rows, 3, 227, 227), np.float32)

    def prepare():  # classify_video.py: oversample the clip, then preprocess each crop (frame-major: row 10·t + c)
        crops_ = io.oversample(frames, (227, 227))[::10 // crops]
        for i, crop in enumerate(crops_):
            batch[i] = transformer.preprocess("data", crop)
    prep = common.best_seconds(prepare, repeat)
    net = caffe.Net(MODEL, caffe.TEST, stages=["deploy"])
    net.blobs["data"].reshape(rows, 3, 227, 227)
    net.blobs["clip_markers"].reshape(rows)
    net.reshape()
    net.blobs["data"].data[...] = batch
    net.blobs["clip_markers"].data[...] = 1
    net.blobs["clip_markers"].data[:crops] = 0
    clips = len(released_clip_starts(video_frames))
    out = dict(crops=crops, rows=rows, video_frames=video_frames, clips_per_video=clips, prepare_seconds=prep)
    out["ours"] = dict(forward_seconds=common.best_seconds(net.forward, repeat))
    if torch_too:
        import torch
        model = bench_train.torch_lrcn().eval()
        x = torch.from_numpy(batch)
        with torch.no_grad():
            out["pytorch"] = dict(forward_seconds=common.best_seconds(lambda: model(x), repeat),
                                  threads=torch.get_num_threads())
    for who in ("ours", "pytorch"):
        if who in out:
            per_video = clips * (prep + out[who]["forward_seconds"])
            out[who]["videos_per_s"] = 1 / per_video
            print(f"evaluate  {crops}-crop clips  {who:8s} {out[who]['videos_per_s']:7.3f} videos/s  (a clip: "
                  f"{out[who]['forward_seconds']:.2f} s forward + {prep:.2f} s preprocessing; {clips} clips per "
                  f"{video_frames}-frame video)", flush=True)
    return out


def flow(repeat):
    """Pairs/s per method at 320×240 on a smooth texture moved by (2, 1) px; skipped methods say why."""
    out = {}
    try:
        from lrcn_native.data.flow import compute_flow
    except ImportError as e:
        print(f"flow      skipped: {e}")
        return {m: dict(skipped=str(e)) for m in FLOW_METHODS}
    rng = np.random.default_rng(0)
    big = smooth_image(rng, 244, 324, 1)[..., 0].astype(np.float32)
    prev_grey, next_grey = big[2:242, 2:322], big[1:241, 0:320]  # next(y, x) = prev(y − 1, x − 2)
    for method in FLOW_METHODS:
        try:
            compute_flow(prev_grey, next_grey, method)
        except (ImportError, RuntimeError) as e:  # the method's extra (OpenCV) is not installed
            print(f"flow      {method}: skipped: {e}")
            out[method] = dict(skipped=str(e))
            continue
        seconds = common.best_seconds(lambda: compute_flow(prev_grey, next_grey, method), repeat, warmup=0)
        out[method] = dict(seconds_per_pair=seconds, pairs_per_s=1 / seconds)
        print(f"flow      {method:9s} {1 / seconds:7.2f} pairs/s at 320×240", flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=4, help="training clips per batch (the paper: 24)")
    ap.add_argument("--iters", type=int, default=2, help="timed training iterations (after one warm-up)")
    ap.add_argument("--video-frames", type=int, default=180, help="frames of the evaluated video")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline")
    common.add_arguments(ap, "one clip, one crop, one iteration without warm-up (a smoke run)")
    args = ap.parse_args()
    crops, repeat = 10, 2
    if args.quick:
        args.clips, args.iters, crops, repeat, bench_train.WARMUP = 1, 1, 1, 1, 0
    torch_too = not args.no_torch and common.torch is not None
    if not torch_too and not args.no_torch:
        print("PyTorch is not installed: no baseline")
    result = common.header(device="cpu", quick=args.quick)
    result["train"] = train(args.clips, args.iters, torch_too)
    result["data"] = data(args.clips, 1 if args.quick else 3)
    result["evaluate"] = evaluate(crops, args.video_frames, repeat, torch_too)
    result["flow"] = flow(repeat)
    common.save(result, args, "activity")


if __name__ == "__main__":
    main()
