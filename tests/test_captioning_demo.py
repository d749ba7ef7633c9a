"""`lrcn demo` and its captioning part (quick): a factored LRCN trained on the synthetic set must beat the
1-nearest-neighbour caption baseline on BLEU-4, and the demo writes its results and contact sheet."""
import json
import re

import pytest
from PIL import Image

from lrcn_native.cli import main
from lrcn_native.tasks import demo
from lrcn_native.tasks.captioning_demo import COLORS, synthetic_set


def test_synthetic_set_is_deterministic_and_grounded():
    a, ra = synthetic_set(40, seed=4)
    b, rb = synthetic_set(40, seed=4)
    assert (a == b).all() and ra == rb and a.shape == (40, 32, 32, 3)
    assert all(len(r) == 5 for r in ra)
    checked = 0
    for img, caps in zip(a, ra):
        for c in caps:
            m = re.match(r"(?:There is a|A) (?:small |large )?(\w+) \w+ to the (left|right) of a (?:small |large )?(\w+) \w+\.$", c)
            if m:     # "X to the left of Y": X's colour is drawn in the left half, Y's in the right half
                first, side, second = m.groups()
                left, right = (first, second) if side == "left" else (second, first)
                assert (img[:, :16] == COLORS[left]).all(-1).any() and (img[:, 16:] == COLORS[right]).all(-1).any()
                checked += 1
    assert checked >= 5


def test_quick_demo_beats_nearest_neighbour(tmp_path, capsys):
    main(["demo", "captioning", "--quick", "--out", str(tmp_path)])   # what the README runs, one part
    r = json.load(open(tmp_path / "results.json"))["parts"]["captioning"]
    gen = r["captioning"]
    assert gen["greedy"]["BLEU-4"] > gen["1-NN"]["BLEU-4"]
    assert r["retrieval"]["image to caption"]["R@10"] > 10 * 5 / 100     # far above chance (5 of 500)
    out = capsys.readouterr().out
    assert "BLEU-4" in out and "1-NN" in out and "caption to image" in out
    assert json.load(open(tmp_path / "captioning_results.json"))["captioning"]["1-NN"] == gen["1-NN"]
    assert r["seconds"] > 0
    assert Image.open(tmp_path / "captioning_examples.png").size[0] > 0


def test_demo_refuses_an_unknown_part_before_running_any(tmp_path):
    with pytest.raises(ValueError, match="unknown demo part.*activty.*known:.*captioning"):
        demo.run(["captioning", "activty"], out_dir=str(tmp_path))
    assert not (tmp_path / "results.json").exists()


def test_demo_help_lists_every_part_with_its_table(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for part, table in (("activity", "Table 1"), ("captioning", "Tables 2-4"), ("video", "Table 5")):
        assert f"{part} ({table}:" in help_text
