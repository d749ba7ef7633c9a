"""Activity recognition core: clip sampling, time-major batches, flow recipe, scores, fusion, metrics."""
import numpy as np
import pytest

from lrcn_native.data.clips import repeat_labels, released_clip_starts as clip_starts, time_major
from lrcn_native.data.flow import flow_to_image, image_to_flow
from lrcn_native.metrics.classification import accuracy, confusion_matrix, per_class_accuracy
from lrcn_native.tasks.activity import format_table, fuse, table_row, video_score


def test_clip_starts_released_protocol():
    # 40 frames: starts 0, 8, 16 fit (i + 16 < 40); 24 and 32 become the last 16 frames (start 24).
    assert clip_starts(40) == [0, 8, 16, 24, 24]
    # Exactly 16 frames: i = 0 gives 16 < 16 false, so the "last clip" path, start 0; i = 8 too.
    assert clip_starts(16) == [0, 0]
    assert clip_starts(17) == [0, 1, 1]
    with pytest.raises(ValueError, match="shorter than one clip"):
        clip_starts(15)


def test_time_major_and_cont():
    n, t = 3, 4
    clips = np.arange(n * t * 2).reshape(n, t, 2)  # clip n, frame t, 2 features
    frames, cont = time_major(clips)
    assert frames.shape == (t * n, 2)
    for ti in range(t):
        for ni in range(n):
            np.testing.assert_array_equal(frames[ti * n + ni], clips[ni, ti])
    np.testing.assert_array_equal(cont[0], 0)
    np.testing.assert_array_equal(cont[1:], 1)
    labels = repeat_labels([5, 7, 9], t)
    assert labels.shape == (t, n) and (labels == [5, 7, 9]).all()


def test_flow_recipe_known_displacement():
    # A uniform displacement of (2.5, -1.25) px: channels 168, 108 and |f|*16+128 = 172.72 -> 173.
    flow = np.zeros((6, 5, 2))
    flow[..., 0], flow[..., 1] = 2.5, -1.25
    img = flow_to_image(flow)
    assert img.dtype == np.uint8
    assert (img[..., 0] == 168).all() and (img[..., 1] == 108).all() and (img[..., 2] == 173).all()
    # Decoding gives it back within half a quantisation step (1/32 px).
    back = image_to_flow(img)
    assert np.abs(back - flow).max() <= 1 / 32
    # Beyond ±127/16 px the channels clip.
    big = flow_to_image(np.full((1, 1, 2), [-20.0, 20.0]))
    assert big.tolist() == [[[0, 255, 255]]]
    with pytest.raises(ValueError, match="H x W x 2"):
        flow_to_image(np.zeros((4, 4, 3)))


def test_video_score_and_fusion():
    # Two clips x 2 frames x 3 classes; the mean over all four frames.
    probs = np.array([[[1, 0, 0], [0, 1, 0]], [[0, 1, 0], [0, 0, 1]]], float)
    np.testing.assert_allclose(video_score(probs), [0.25, 0.5, 0.25])
    rgb = np.array([[0.6, 0.4], [0.2, 0.8]])
    flow = np.array([[0.3, 0.7], [0.9, 0.1]])
    np.testing.assert_allclose(fuse(rgb, flow, 1 / 3), [[0.4, 0.6], [2 / 3, 1 / 3]])
    with pytest.raises(ValueError, match="differ in shape"):
        fuse(rgb, flow[:1], 0.5)


def test_table_row():
    labels = [0, 1, 1]
    rgb = np.array([[0.9, 0.1], [0.6, 0.4], [0.45, 0.55]])   # right on 0 and 2
    flow = np.array([[0.4, 0.6], [0.2, 0.8], [0.7, 0.3]])    # right on 1 only
    row = table_row(labels, rgb, flow)
    assert list(row) == ["RGB", "Flow", "1/2 RGB", "1/3 RGB"]
    assert row["RGB"] == pytest.approx(200 / 3) and row["Flow"] == pytest.approx(100 / 3)
    # 1/2: [0.65, 0.35] ok, [0.4, 0.6] ok, [0.575, 0.425] wrong -> 2/3.
    assert row["1/2 RGB"] == pytest.approx(200 / 3)
    # 1/3: [0.567, 0.433] ok, [0.333, 0.667] ok, [0.617, 0.383] wrong -> 2/3.
    assert row["1/3 RGB"] == pytest.approx(200 / 3)
    text = format_table({"LRCN-fc6": row})
    assert "LRCN-fc6" in text and "66.67" in text and "1/3 RGB" in text


def test_metrics():
    labels = [0, 0, 1, 2, 2, 2]
    preds = [0, 1, 1, 2, 0, 2]
    assert accuracy(labels, preds) == pytest.approx(4 / 6)
    cm = confusion_matrix(labels, preds, 4)
    assert cm[0].tolist() == [1, 1, 0, 0] and cm[2].tolist() == [1, 0, 2, 0] and cm.sum() == 6
    pca = per_class_accuracy(labels, preds, 4)
    np.testing.assert_allclose(pca[:3], [0.5, 1.0, 2 / 3])
    assert np.isnan(pca[3])
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix([0, 5], [0, 1], 4)


def test_lucas_kanade_recovers_known_shift():
    # A smooth texture sampled at x - dx, y - dy: the content moves by (dx, dy) px.
    from lrcn_native.data.flow import lucas_kanade
    dx, dy = 0.5, -0.3
    yy, xx = np.mgrid[0:48, 0:48].astype(float)
    tex = lambda x, y: np.sin(0.3 * x + 0.1 * y) + np.cos(0.2 * y - 0.15 * x) + 0.5 * np.sin(0.25 * (x + y))
    flow = lucas_kanade(tex(xx, yy), tex(xx - dx, yy - dy))
    assert flow.shape == (48, 48, 2)
    inner = flow[8:-8, 8:-8]   # away from the replicated borders
    # The one-step linearisation errs by O(d^2 * curvature): under 0.01 px mean here; 0.05 leaves margin.
    assert np.abs(inner[..., 0] - dx).mean() < 0.05 and np.abs(inner[..., 1] - dy).mean() < 0.05
    # Through the flow image and back, within the 1/32 px rounding more.
    back = image_to_flow(flow_to_image(inner))
    assert np.abs(back[..., 0] - dx).mean() < 0.05 + 1 / 32
    # A textureless window has no flow.
    assert not lucas_kanade(np.ones((10, 10)), np.ones((10, 10))).any()


def test_scores_roundtrip_and_rescore(tmp_path):
    from lrcn_native.tasks.activity import load_scores, save_scores
    labels = np.array([0, 1, 1])
    rgb = np.array([[0.9, 0.1], [0.6, 0.4], [0.45, 0.55]])
    path = str(tmp_path / "rgb.npz")
    save_scores(path, ["v_A_g01_c01", "v_B_g01_c01", "v_B_g02_c01"], labels, rgb)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rgb.npz"]   # no temporary left behind
    videos, lab, sc = load_scores(path)
    assert videos.tolist()[1] == "v_B_g01_c01"
    np.testing.assert_array_equal(lab, labels)
    np.testing.assert_array_equal(sc, rgb)
    with pytest.raises(ValueError, match="must agree"):
        save_scores(path, ["a"], labels, rgb)
    np.savez(tmp_path / "other.npz", x=np.zeros(2))
    with pytest.raises(ValueError, match="not a scores file"):
        load_scores(str(tmp_path / "other.npz"))
