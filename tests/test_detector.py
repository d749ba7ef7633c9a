"""caffe.Detector: windows cropped (plainly, or R-CNN style with context_pad and mean padding), warped to the
input size and classified, against a float64 numpy transcription on the small net of test_classifier."""
import numpy as np
import pytest
from PIL import Image
from test_classifier import MEAN, SETTINGS, reference_forward, small_net

import lrcn_native as caffe
from lrcn_native import io


def image_file(tmp_path, seed=2):
    """A 20 x 20 RGB PNG (lossless) and the [0, 1] image load_image gives for it."""
    pixels = np.random.default_rng(seed).integers(0, 256, (20, 20, 3), dtype=np.uint8)
    path = tmp_path / "im.png"
    Image.fromarray(pixels).save(path)
    return str(path), pixels.astype(np.float32) / 255


def test_detect_windows_without_context(tmp_path):
    model, weights, params = small_net(tmp_path)
    det = caffe.Detector(model, weights, **SETTINGS)
    assert tuple(det.crop_dims) == (6, 6, 3)
    path, im = image_file(tmp_path)
    windows = [(2, 3, 14, 9), (0, 0, 20, 20)]
    out = det.detect_windows([(path, windows)])
    assert [d["filename"] for d in out] == [path, path]
    assert [tuple(d["window"]) for d in out] == windows
    crops = [io.resize_image(im[y0:y1, x0:x1], (6, 6)) for y0, x0, y1, x1 in windows]
    np.testing.assert_allclose(np.array([d["prediction"] for d in out]), reference_forward(crops, params),
                               rtol=1e-5, atol=1e-7)  # float32 vs float64, as in test_classifier


def test_context_pad_crops_worked_by_hand(tmp_path):
    model, weights, params = small_net(tmp_path)
    det = caffe.Detector(model, weights, context_pad=1, **SETTINGS)
    path, im = image_file(tmp_path)
    # The mean in image space: BGR mean / raw scale, back in RGB order.
    np.testing.assert_allclose(det.crop_mean.reshape(3), MEAN[::-1] / 255)
    # crop 6, context 1: boxes grow by 6 / (6 - 2) = 1.5 about the centre. Window (4, 4, 11, 11): half 4,
    # centre 8, box (2, 2, 14, 14), all inside: the crop is pixels 2..13 warped to 6 x 6.
    np.testing.assert_allclose(det.crop(im, (4, 4, 11, 11)), io.resize_image(im[2:14, 2:14], (6, 6)))
    # Window (0, 0, 5, 5): half 3, centre 3, box round(-1.5, -1.5, 7.5, 7.5) = (-2, -2, 8, 8), 11 pixels for 6:
    # pad round(2 * 6/11) = 1 row and column of mean, then pixels 0..7 warped to round(9 * 6/11) = 5.
    crop = det.crop(im, (0, 0, 5, 5))
    np.testing.assert_allclose(crop[1:, 1:], io.resize_image(im[0:8, 0:8], (5, 5)))
    np.testing.assert_allclose(crop[0], np.broadcast_to(det.crop_mean.reshape(3), (6, 3)), rtol=1e-6)
    np.testing.assert_allclose(crop[:, 0], np.broadcast_to(det.crop_mean.reshape(3), (6, 3)), rtol=1e-6)
    out = det.detect_windows([(path, [(4, 4, 11, 11), (0, 0, 5, 5)])])
    np.testing.assert_allclose(np.array([d["prediction"] for d in out]),
                               reference_forward([det.crop(im, (4, 4, 11, 11)), crop], params), rtol=1e-5, atol=1e-7)
    # The mean padding preprocesses to zeros: (mean / 255) swapped back to BGR, x 255, - mean.
    pre = det.transformer.preprocess("data", crop)
    np.testing.assert_allclose(pre[:, 0, :], 0, atol=1e-5)


def test_errors_name_the_problem(tmp_path):
    model, weights, _ = small_net(tmp_path)
    det = caffe.Detector(model, weights, context_pad=1)
    assert np.all(det.crop_mean == 0)  # no mean: context outside the image is black
    _, im = image_file(tmp_path)
    with pytest.raises(ValueError, match=r"window \[30, 30, 40, 40\] lies outside the 20x20 image"):
        det.crop(im, (30, 30, 40, 40))
    with pytest.raises(ValueError, match=r"window \[5, 5, 5, 9\] holds no pixel of the 20x20 image"):
        caffe.Detector(model, weights).crop(im, (5, 5, 5, 9))
    with pytest.raises(ValueError, match="no windows given"):
        det.detect_windows([])
    with pytest.raises(ImportError, match="needs the selective_search_ijcv_with_python package"):
        det.detect_selective_search(["im.png"])
