"""Bounded fuzzing of every reader of untrusted input: prototxt (parse + schema), .caffemodel, .caffemodel.h5,
.solverstate and COCO caption files. Seeded mutations of real files (byte flips, cuts, duplicated and deleted spans, inserted
braces and numbers) run in child interpreters, a batch per child under a timeout, so a crash or a hang fails
the test with the input that caused it, kept in tmp_path. Every input must be read or rejected with a
ValueError (PrototxtError and friends) — never another exception, a crash or a hang."""
import glob
import json
import os

import numpy as np
import pytest

from util import run_python

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = {
    "prototxt": sorted(glob.glob(os.path.join(HERE, "golden", "*", "net.prototxt")))
    + sorted(glob.glob(os.path.join(HERE, "..", "lrcn_native", "models", "*.prototxt"))),
    "caffemodel": sorted(glob.glob(os.path.join(HERE, "golden", "*", "weights.caffemodel"))),
    "h5": sorted(glob.glob(os.path.join(HERE, "golden", "*", "weights.caffemodel.h5"))),
    "solverstate": sorted(glob.glob(os.path.join(HERE, "golden", "*", "weights.caffemodel")))[:4],  # wire format
    "coco": [None],  # a COCO captions file written by the test (data/captions.py's readers)
}
CASES_PER_SEED = {"prototxt": 40, "caffemodel": 80, "h5": 30, "solverstate": 60, "coco": 200}
COCO = {"images": [{"id": i, "file_name": f"{i}.jpg"} for i in range(3)],
        "annotations": [{"image_id": i % 3, "id": i, "caption": f"A red ball number {i} on the grass."} for i in range(6)]}
TOKENS = [b"{", b"}", b":", b'"', b"-", b"99999999999999999999", b"nan", b"layer {", b"\x00", b"\xff", b"#", b"\n"]

CHILD = r'''
import json, sys
from lrcn_native.proto.text import parse
from lrcn_native.proto.schema import validate_net
from lrcn_native.proto.caffemodel import read_caffemodel, read_hdf5_weights, read_solverstate
from lrcn_native.data.captions import read_coco
def read(kind, path):
    if kind == "prototxt":
        validate_net(parse(open(path, "rb").read().decode("utf-8", "replace"), path))
    elif kind == "caffemodel":
        read_caffemodel(path)
    elif kind == "h5":
        read_hdf5_weights(path)
    elif kind == "coco":
        [c for c in read_coco(path, "images").tokenized()]
    else:
        read_solverstate(path)
for kind, path in json.load(open(sys.argv[1] if len(sys.argv) > 1 else CASES)):
    print("case", path, flush=True)
    try:
        read(kind, path)
    except ValueError:
        pass
    except BaseException as e:
        print(f"BAD {path}: {type(e).__name__}: {e}"[:300], flush=True)
print("done", flush=True)
'''


def mutate(data, rng):
    """One to three random edits of ``data`` (bytes)."""
    data = bytearray(data)
    for _ in range(rng.integers(1, 4)):
        op, at = rng.integers(6), int(rng.integers(max(len(data), 1)))
        if op == 0 and data:                                   # flip bits of a byte
            data[at] ^= int(rng.integers(1, 256))
        elif op == 1:                                          # cut the file
            data = data[:at]
        elif op == 2:                                          # delete a span
            del data[at:at + int(rng.integers(1, 64))]
        elif op == 3:                                          # duplicate a span
            data[at:at] = data[at:at + int(rng.integers(1, 64))]
        elif op == 4:                                          # insert a token
            data[at:at] = TOKENS[int(rng.integers(len(TOKENS)))]
        else:                                                  # overwrite 4 bytes with a random int (lengths, tags)
            data[at:at + 4] = rng.integers(0, 256, 4, dtype=np.uint8).tobytes()
    return bytes(data)


@pytest.mark.parametrize("kind", sorted(SEEDS))
def test_mutated_inputs_are_read_or_rejected_cleanly(kind, tmp_path):
    rng = np.random.default_rng(sum(map(ord, kind)))
    cases = []
    for s, seed in enumerate(SEEDS[kind]):
        data = open(seed, "rb").read() if seed else json.dumps(COCO).encode()
        for k in range(CASES_PER_SEED[kind]):
            path = tmp_path / f"{s}_{k}_{os.path.basename(seed or 'captions.json')}"
            path.write_bytes(mutate(data, rng))
            cases.append((kind, str(path)))
    assert len(cases) >= 40
    listing = tmp_path / "cases.json"
    listing.write_text(json.dumps(cases))
    r = run_python(CHILD.replace("CASES", repr(str(listing))), timeout=120)
    last = [line for line in r.stdout.splitlines() if line.startswith("case ")][-1:]
    assert r.returncode == 0 and r.stdout.rstrip().endswith("done"), \
        f"the reader crashed or hung on {last}: exit {r.returncode}\n{r.stderr[-2000:]}"
    bad = [line for line in r.stdout.splitlines() if line.startswith("BAD")]
    assert not bad, "\n".join(bad[:10])
