"""The activity part of `lrcn demo` (quick): LRCN beats the single-frame nets on RGB and on flow, late fusion
beats each input alone, a rerun gives the same numbers, and the synthetic set hides the class from one frame."""
import json

import numpy as np
import pytest

from lrcn_native.cli import main
from lrcn_native.data.flow import image_to_flow
from lrcn_native.tasks import activity_demo as D
from lrcn_native.tasks.activity import load_scores, table_row


def test_colour_order_is_invisible_to_flow_and_one_frame_is_ambiguous():
    # The same draws with the other colour order (label 0 vs 1): frames of equal luma, so the same flow.
    a = D.synthetic_video(0, 20, np.random.default_rng(3))
    b = D.synthetic_video(1, 20, np.random.default_rng(3))
    assert (a != b).any()
    # Luma differs by the uint8 rounding of each channel of each video (<= 0.5 level each, luma weights sum
    # to 1) and the colours' luma mismatch (<= 0.003 of a level per unit of texture).
    assert np.abs(a @ D.LUMA - b @ D.LUMA).max() <= 1.01
    flow_a = np.stack([image_to_flow(f) for f in D.flow_images(a)])
    flow_b = np.stack([image_to_flow(f) for f in D.flow_images(b)])
    # That rounding noise moves Lucas-Kanade's flow by ~0.01 px on average (a 1/16 px level here and there)
    # against a signal of 0.5 px a frame; 0.03 px leaves margin and still fails on any real colour leak.
    assert np.abs(flow_a - flow_b).mean() < 0.03 and np.abs(flow_a).mean() > 0.25
    # Every class shows all three colours: one RGB frame cannot name the class. A frame's colour is the
    # COLOURS row nearest its mean chromaticity (texture only scales the colour).
    videos, labels = D.synthetic_set(6, seed=5)
    chroma = D.COLOURS / D.COLOURS.sum(1, keepdims=True)
    for c in range(len(D.CLASSES)):
        seen = {int(np.argmin(np.abs(chroma - m / m.sum()).sum(1)))
                for v, label in zip(videos, labels) if label == c for m in v.reshape(len(v), -1, 3).mean(1)}
        assert seen == {0, 1, 2}, (c, seen)
    again, labels2 = D.synthetic_set(6, seed=5)
    assert (labels == labels2).all() and all((x == y).all() for x, y in zip(videos, again))


def test_quick_demo_ordering_and_determinism(tmp_path, capsys):
    main(["demo", "activity", "--quick", "--out", str(tmp_path)])    # the README's command, one part
    r = json.load(open(tmp_path / "results.json"))["parts"]["activity"]
    single, lrcn = r["table"]["Single frame"], r["table"]["LRCN"]
    # Chance is 25%; each LRCN input can reach 50% (one of the two factors), fusion 100%.
    for column in ("RGB", "Flow"):
        assert lrcn[column] >= single[column] + 15, (column, r["table"])
    for w in ("1/2 RGB", "1/3 RGB"):
        assert lrcn[w] > max(lrcn["RGB"], lrcn["Flow"]) + 15, (w, r["table"])
    out = capsys.readouterr().out
    assert "Single frame" in out and "1/3 RGB" in out and "iteration 300/300" in out
    # The saved per-video scores re-score the table without the nets.
    _, labels, rgb = load_scores(str(tmp_path / "activity_scores_lrcn_rgb.npz"))
    _, _, flow = load_scores(str(tmp_path / "activity_scores_lrcn_flow.npz"))
    assert table_row(labels, rgb, flow) == pytest.approx(lrcn)
    assert sum(map(sum, r["confusion"]["LRCN, 1/2 RGB"])) == len(labels)
    pytest.importorskip("matplotlib", reason="PNG plots need the plot extra")
    assert (tmp_path / "activity_loss.png").stat().st_size > 0
    assert (tmp_path / "activity_confusion.png").stat().st_size > 0


def test_training_is_seeded(tmp_path):
    # Two short LRCN flow runs from the same seed give the same losses and the same video scores, bit for bit.
    videos, labels = D.synthetic_set(3, seed=2)
    flow = [D.flow_images(v) for v in videos]
    runs = []
    for k in range(2):
        net, losses = D.train("LRCN", flow, labels, D.flow_input, 20, 4, str(tmp_path), f"r{k}", 2, lambda *a: None)
        runs.append((losses, D.evaluate("LRCN", net, flow[:4], D.flow_input, str(tmp_path), f"r{k}")))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
