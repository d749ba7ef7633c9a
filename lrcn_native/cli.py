"""The `lrcn` command, after the `caffe` tool: time, inspect, convert (train and test come with the
solver). Log lines follow Caffe's wording so existing log parsers work."""
import argparse
import logging
import sys
import time

import numpy as np

log = logging.getLogger("lrcn_native")


def _mode(gpu):
    import lrcn_native as caffe
    if gpu is None:
        caffe.set_mode_cpu()
        return False
    caffe.set_device(int(gpu))
    caffe.set_mode_gpu()
    return True


def cmd_time(args):
    """Per-layer forward and backward time of a net, like `caffe time`."""
    import lrcn_native as caffe
    from lrcn_native.backend import K
    gpu = _mode(args.gpu)
    phase = caffe.TRAIN if args.phase == "TRAIN" else caffe.TEST
    net = caffe.Net(args.model, phase, level=args.level, stages=args.stage or ())
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
    total = time.perf_counter()
    for it in range(args.iterations):
        t_it = time.perf_counter()
        for i, (layer, bottom, top) in enumerate(zip(net.layers, net._bottoms, net._tops)):
            t0 = time.perf_counter()
            layer.reshape(bottom, top)
            layer.forward(bottom, top)
            sync()
            fwd[i] += time.perf_counter() - t0
        for i in range(n_layers - 1, -1, -1):
            t0 = time.perf_counter()
            if net._layer_need_backward[i]:
                net.layers[i].backward(net._tops[i], net._bottom_need_backward[i], net._bottoms[i])
            sync()
            bwd[i] += time.perf_counter() - t0
        print(f"Iteration: {it + 1} forward-backward time: {1e3 * (time.perf_counter() - t_it):.2f} ms.")
    total = time.perf_counter() - total
    n = args.iterations
    print("Average time per layer: ")
    for i, name in enumerate(net._layer_names):
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
    else:
        write_caffemodel(args.output, wf.name, layers)
    print(f"wrote {args.output} ({len(layers)} layers) from {args.input} ({wf.format})")
    return 0


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(levelname).1s %(asctime)s %(name)s] %(message)s")
    parser = argparse.ArgumentParser(prog="lrcn", description="lrcn_native: Caffe's command-line tool for LRCN")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("time", help="per-layer forward/backward timing (caffe time)")
    p.add_argument("--model", required=True, help="net prototxt")
    p.add_argument("--iterations", type=int, default=50)
    p.add_argument("--gpu", default=None, help="GPU id (CPU when absent)")
    p.add_argument("--phase", default="TRAIN", choices=("TRAIN", "TEST"))
    p.add_argument("--level", type=int, default=0)
    p.add_argument("--stage", action="append", help="NetState stage (repeatable)")
    p.set_defaults(func=cmd_time)
    p = sub.add_parser("inspect", help="layers, blob shapes and parameter counts of a weight file")
    p.add_argument("file")
    p.set_defaults(func=cmd_inspect)
    p = sub.add_parser("convert", help="convert between .caffemodel and .caffemodel.h5")
    p.add_argument("input")
    p.add_argument("output")
    p.set_defaults(func=cmd_convert)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, RuntimeError, OSError, KeyError) as e:
        print(f"lrcn {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
