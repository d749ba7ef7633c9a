"""Caffe's extract_features tool: named blobs of a net, forward over its own data source for a number of
batches, saved as HDF5 (ours: one float32 dataset per blob, N×…) or as Caffe's LMDBs (one per blob, a
float Datum per item keyed by its index as ten digits, ``%010d``). Outputs are written atomically."""
import logging

import numpy as np

from ..fileio import atomic_write

log = logging.getLogger("lrcn_native")


def check_blobs(net, names):
    unknown = [n for n in names if n not in net.blobs]
    if unknown:
        raise ValueError(f"unknown feature blob name(s) {', '.join(unknown)} in net '{net.name}' "
                         f"(its blobs: {', '.join(net.blobs)})")


def batches(net, names, num_batches):
    """One {name: copy of the blob} per forward pass."""
    check_blobs(net, names)
    for i in range(num_batches):
        net.forward()
        yield {n: net.blobs[n].data.copy() for n in names}
        log.info("Batch %d/%d extracted (%s)", i + 1, num_batches, ", ".join(names))


def to_hdf5(path, net, names, num_batches):
    """One dataset per blob, num_batches·N rows; returns {name: shape}."""
    import h5py
    bad = [n for n in names if "/" in n]
    if bad:
        raise ValueError(f"blob names {bad} cannot be HDF5 dataset names ('/'): use --format lmdb")
    shapes = {}

    def write(tmp):
        with h5py.File(tmp, "w") as f:
            for i, arrays in enumerate(batches(net, names, num_batches)):
                for n, a in arrays.items():
                    if n not in f:
                        f.create_dataset(n, (num_batches * len(a),) + a.shape[1:], np.float32)
                    f[n][i * len(a):(i + 1) * len(a)] = a
            shapes.update({n: f[n].shape for n in names})
    atomic_write(path, write)
    return shapes


def to_lmdb(paths, net, names, num_batches):
    """One LMDB per blob (``paths`` in the order of ``names``), as Caffe's tool; returns {name: items}."""
    from ..data.datum import LMDBWriter, encode_datum, feature_datum
    if len(paths) != len(names):
        raise ValueError(f"{len(names)} blobs but {len(paths)} output databases: give one per blob, comma-separated")
    writers = []
    try:
        for p in paths:
            writers.append(LMDBWriter(p))
        counts = dict.fromkeys(names, 0)
        for arrays in batches(net, names, num_batches):
            for w, n in zip(writers, names):
                for item in arrays[n]:
                    w.put(f"{counts[n]:010d}", encode_datum(feature_datum(item)))
                    counts[n] += 1
    except BaseException:
        for w in writers:
            w.abort()
        raise
    for w in writers:
        w.close()
    return counts
