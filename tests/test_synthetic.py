"""`lrcn time` on nets whose data files are missing (lrcn_native/tasks/synthetic.py): data layers become Input
layers of the shapes their parameters declare or --input-shape gives, with a logged note; tried on the
original LRCN train prototxts."""
import numpy as np

import lrcn_native as caffe
from lrcn_native.cli import main
from lrcn_native.proto.text import parse, parse_file
from lrcn_native.tasks.synthetic import with_synthetic_inputs
from util import ORIGINAL, needs_original

LM_TOPS = ("cont_sentence", "input_sentence", "target_sentence")


def _input_shapes(netp):
    return {lp.strs("top")[i]: tuple(s.ints("dim")) for lp in netp.msgs("layer") if lp.str("type") == "Input"
            for i, s in enumerate(lp.msg("input_param").msgs("shape"))}


@needs_original
def test_time_original_language_model_needs_and_takes_input_shapes(capsys, caplog, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # the file's ./examples/... data are not here
    model = str(ORIGINAL / "coco_caption" / "lstm_language_model.prototxt")
    assert main(["time", "--model", model, "--iterations", "1"]) == 1
    err = capsys.readouterr().err
    assert "lstm_language_model.prototxt:2: layer 'data' (HDF5Data) cannot read its data (cannot read source list" in err
    assert " ".join(f"--input-shape {t}=N,C,H,W" for t in LM_TOPS) in err
    caplog.set_level("WARNING", logger="lrcn_native")
    # T=3 timesteps × 2 streams instead of the file's 20 × 100: a quick run of every layer
    assert main(["time", "--model", model, "--iterations", "1"]
                + [a for t in LM_TOPS for a in ("--input-shape", f"{t}=3,2")]) == 0
    assert "Average Forward-Backward" in capsys.readouterr().out
    assert "timed with synthetic inputs cont_sentence 3x2, input_sentence 3x2, target_sentence 3x2" in caplog.text
    assert main(["time", "--model", model, "--input-shape", "words=3,2"]) == 1
    assert "--input-shape words: not a top of a data layer" in capsys.readouterr().err


@needs_original
def test_original_train_nets_get_their_declared_shapes(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    # lrcn.prototxt: ImageData declares batch_size × 3 × crop_size²; its HDF5Data streams need shapes
    lrcn = parse_file(str(ORIGINAL / "coco_caption" / "lrcn.prototxt"))
    netp, notes = with_synthetic_inputs(lrcn, caffe.TRAIN, given={t: (20, 100) for t in LM_TOPS})
    assert _input_shapes(netp) == {"data": (100, 3, 227, 227), "label": (100,), **{t: (20, 100) for t in LM_TOPS}}
    assert len(notes) == 2 and "cannot read source list" in notes[0]
    assert "layers" not in netp and len(lrcn.msgs("layer")) == len(netp.msgs("layer"))  # replaced one for one
    # the activity fork's Python data layer (the released sequence_input_layer): 16 frames × 24 clips
    act = parse_file(str(ORIGINAL / "LRCN_activity_recognition" / "train_test_lstm_RGB.prototxt"))
    netp, _ = with_synthetic_inputs(act, caffe.TRAIN)
    assert _input_shapes(netp) == {"data": (384, 3, 227, 227), "label": (384,), "clip_markers": (384,)}
    assert [lp.msgs("include")[0].enum("phase", None, ("TRAIN", "TEST")) for lp in netp.msgs("layer")[:2]] == \
        ["TRAIN", "TEST"]  # the TEST layer is kept as it was, rules and all


def test_readable_data_layers_are_kept_and_given_shapes_override(tmp_path, capsys):
    import h5py
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["x"] = np.zeros((4, 3), np.float32)
    (tmp_path / "list.txt").write_text(f"{tmp_path / 'd.h5'}\n")
    text = (f'layer {{ name: "d" type: "HDF5Data" top: "x" hdf5_data_param {{ source: "{tmp_path / "list.txt"}" '
            'batch_size: 2 } }\nlayer { name: "ip" type: "InnerProduct" bottom: "x" top: "y" '
            'inner_product_param { num_output: 2 } }')
    netp = parse(text, "n.prototxt")
    assert with_synthetic_inputs(netp, caffe.TRAIN) == (netp, [])  # its file is there: nothing replaced
    replaced, notes = with_synthetic_inputs(netp, caffe.TRAIN, given={"x": (5, 3)})
    assert _input_shapes(replaced) == {"x": (5, 3)} and "cannot read" not in notes[0]
    assert caffe.Net(replaced, caffe.TRAIN).blobs["y"].shape == (5, 2)
    (tmp_path / "n.prototxt").write_text(text)
    assert main(["time", "--model", str(tmp_path / "n.prototxt"), "--input-shape", "x=5,0"]) == 1
    assert "--input-shape 'x=5,0': give blob=N,C,H,W (positive integers" in capsys.readouterr().err
