"""Video decoding (PyAV): every frame counted by decoding, resampling to a chosen fps, folders of frames,
resizing, and clear errors for unreadable videos."""
import numpy as np
import pytest
from PIL import Image

from lrcn_native.data.video import VideoError, count_frames, frame_files, frame_name, read_frames, write_video

av = pytest.importorskip("av", reason="PyAV not installed: pip install 'lrcn_native[video]'")

STEP = 12  # frame i is a flat grey of level STEP * i: lossy mpeg4 keeps its mean within ±3 (measured)


def numbered_video(path, n=20, fps=25):
    write_video(path, (np.full((24, 32, 3), STEP * i, np.uint8) for i in range(n)), fps=fps)
    return path


def indices(frames):
    """The source frame index each decoded frame shows."""
    return [round(float(f.mean()) / STEP) for f in frames]


@pytest.mark.parametrize("ext", ["avi", "mp4"])
def test_every_frame_in_order(tmp_path, ext):
    path = numbered_video(tmp_path / f"v.{ext}")
    frames = list(read_frames(path))
    assert [f.shape for f in frames] == [(24, 32, 3)] * 20 and frames[0].dtype == np.uint8
    assert indices(frames) == list(range(20))
    assert count_frames(path) == 20


def test_fps_drops_and_duplicates_the_nearest_frames(tmp_path):
    # 25 fps source, frame i at i/25 s. 12.5 fps keeps every other frame; at 35 fps output frame k (at k/35 s)
    # shows source frame round(25k/35), up to the last frame's time 19/25 s (k <= 26). Neither rate has a tie.
    path = numbered_video(tmp_path / "v.avi")
    assert indices(read_frames(path, fps=12.5)) == list(range(0, 20, 2))
    assert indices(read_frames(path, fps=35)) == [round(25 * k / 35) for k in range(27)]
    with pytest.raises(ValueError, match="positive"):
        list(read_frames(path, fps=0))


def test_resize_and_folders_of_frames(tmp_path):
    path = numbered_video(tmp_path / "v.avi", n=3)
    assert {f.shape for f in read_frames(path, size=(16, 12))} == {(12, 16, 3)}
    folder = tmp_path / "frames"
    folder.mkdir()
    for k in (1, 2, 10, 11):  # numbered without padding: 10 sorts after 2
        Image.fromarray(np.full((6, 8, 3), k, np.uint8)).save(folder / f"img{k}.png")
    (folder / "notes.txt").write_text("not a frame")
    assert [int(f[0, 0, 0]) for f in read_frames(folder)] == [1, 2, 10, 11]
    assert [f.shape for f in read_frames(folder, size=(4, 2))] == [(2, 4, 3)] * 4
    assert [p.rsplit("/", 1)[1] for p in frame_files(folder)] == ["img1.png", "img2.png", "img10.png", "img11.png"]
    with pytest.raises(ValueError, match="frame rate"):
        list(read_frames(folder, fps=10))
    assert frame_name("v_X_g01_c01", 7) == "v_X_g01_c01.0007.jpg"


def test_unreadable_videos_name_the_file(tmp_path):
    good = numbered_video(tmp_path / "good.mp4")
    truncated = tmp_path / "truncated.mp4"   # mp4 keeps its index at the end: cut, it cannot be opened
    truncated.write_bytes(good.read_bytes()[:len(good.read_bytes()) // 2])
    garbage = tmp_path / "garbage.avi"
    garbage.write_bytes(bytes(range(256)) * 40)
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    for path in (truncated, garbage, empty, tmp_path / "missing.avi"):
        with pytest.raises(VideoError, match=path.name):
            list(read_frames(path))
    (tmp_path / "no_frames").mkdir()
    with pytest.raises(VideoError, match="no frame images"):
        list(read_frames(tmp_path / "no_frames"))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.0001.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(VideoError, match="x.0001.jpg"):
        list(read_frames(tmp_path / "bad"))
    with pytest.raises(ValueError, match="no frames"):
        write_video(tmp_path / "none.avi", [])


def test_truncated_avi_keeps_what_decodes_with_a_warning(tmp_path, caplog):
    # AVI declares its frame count up front and interleaves its data: a cut file decodes in part, as the
    # ffmpeg CLI also extracts it; the shortfall against the header is logged.
    good = numbered_video(tmp_path / "good.avi")
    cut = tmp_path / "cut.avi"
    cut.write_bytes(good.read_bytes()[:len(good.read_bytes()) * 9 // 10])  # its last frames and index cut
    n = count_frames(cut)
    # The last, cut packet decodes with the decoder's error concealment: frames before it are exact.
    assert 0 < n < 20 and indices(read_frames(cut))[:n - 1] == list(range(n - 1))
    assert f"cut.avi: decoded {n} frames but its header declares 20" in caplog.text
