"""`lrcn extract-features` (lrcn_native/tasks/features.py): blobs of a net over its own data into HDF5 or, as
Caffe's extract_features, one LMDB of float Datums per blob keyed %010d."""
import h5py
import numpy as np
import pytest

import lrcn_native as caffe
from lrcn_native.cli import main
from lrcn_native.data import datum as D

NET = '''name: "features"
layer {{ name: "d" type: "HDF5Data" top: "x" top: "y" hdf5_data_param {{ source: "{listing}" batch_size: 2 }} }}
layer {{ name: "fc" type: "InnerProduct" bottom: "x" top: "fc"
        inner_product_param {{ num_output: 4 weight_filler {{ type: "gaussian" std: 1 }} }} }}
layer {{ name: "relu" type: "ReLU" bottom: "fc" top: "fc" }}
'''


@pytest.fixture
def setup(tmp_path):
    """A net reading 5 rows of x (2×3 per item) from HDF5, its weights saved, and the expected features of
    3 batches (6 items: the reader wraps around after the 5th)."""
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["x"], f["y"] = x, np.arange(5, dtype=np.float32)
    (tmp_path / "list.txt").write_text(f"{tmp_path / 'x.h5'}\n")
    model = tmp_path / "net.prototxt"
    model.write_text(NET.format(listing=tmp_path / "list.txt"))
    net = caffe.Net(str(model), caffe.TEST)
    net.save(str(tmp_path / "w.caffemodel"))
    w, b = (p.data for p in net.params["fc"])
    items = x[[0, 1, 2, 3, 4, 0]]
    fc = np.maximum(items.reshape(6, -1) @ w.T + b, 0)
    return tmp_path, {"fc": fc, "x": items}


def test_extract_features_to_hdf5(setup):
    tmp_path, want = setup
    out = tmp_path / "feats.h5"
    assert main(["extract-features", str(tmp_path / "w.caffemodel"), str(tmp_path / "net.prototxt"), "fc,x",
                 str(out), "3"]) == 0
    with h5py.File(out, "r") as f:
        assert sorted(f) == ["fc", "x"] and f["x"].shape == (6, 2, 3)
        np.testing.assert_array_equal(f["x"][()], want["x"])
        # the same sgemm on the same rows, but batched 2 at a time vs 6: float32 rounding may differ
        np.testing.assert_allclose(f["fc"][()], want["fc"], rtol=1e-5, atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary left


def test_extract_features_to_lmdb_as_caffe(setup):
    lmdb = pytest.importorskip("lmdb", reason="pip install 'lrcn_native[lmdb]'")
    tmp_path, want = setup
    dbs = [tmp_path / "fc_db", tmp_path / "x_db"]
    assert main(["extract-features", str(tmp_path / "w.caffemodel"), str(tmp_path / "net.prototxt"), "fc,x",
                 ",".join(map(str, dbs)), "3", "--format", "lmdb"]) == 0
    for db, name, dims in zip(dbs, ("fc", "x"), ((4, 1, 1), (2, 3, 1))):
        with lmdb.open(str(db), readonly=True, lock=False) as env, env.begin() as txn:
            records = list(txn.cursor())
        assert [bytes(k) for k, _ in records] == [b"%010d" % i for i in range(6)]
        for (_, value), item in zip(records, want[name]):
            d = D.decode_datum(value)
            assert (d.channels, d.height, d.width) == dims and not d.data and not d.encoded
            np.testing.assert_allclose(d.float_data, item.ravel(), rtol=1e-5, atol=1e-6)  # as above


def test_extract_features_errors(setup, capsys):
    tmp_path, _ = setup
    args = [str(tmp_path / "w.caffemodel"), str(tmp_path / "net.prototxt")]
    assert main(["extract-features", *args, "fc,nope", str(tmp_path / "o.h5"), "1"]) == 1
    assert "unknown feature blob name(s) nope in net 'features' (its blobs: x, y, fc)" in capsys.readouterr().err
    assert main(["extract-features", *args, "fc,x", str(tmp_path / "one_db"), "1", "--format", "lmdb"]) == 1
    assert "2 blobs but 1 output databases" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["extract-features", *args, "fc", str(tmp_path / "o.h5"), "0"])
    assert not (tmp_path / "o.h5").exists() and not (tmp_path / "one_db").exists()
