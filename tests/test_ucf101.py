"""UCF-101 preparation: split lists (official -> released format), and `lrcn prepare-ucf101` end to end on
generated videos (one corrupt): the released layout, failures reported by name, idempotent reruns, a resume
after SIGKILL equal to an uninterrupted run, shards that together make the whole, spawned workers."""
import importlib.util
import os
import pathlib
import random
import re
import signal
import subprocess
import time

import numpy as np
import pytest
from PIL import Image

import lrcn_native
from lrcn_native.cli import main
from lrcn_native.data import ucf101
from lrcn_native.data.flow import image_to_flow
from lrcn_native.data.video import write_video
from lrcn_native.proto.text import parse
from util import ORIGINAL, needs_mpi, needs_original, python_command, run_python

# ---- split lists -------------------------------------------------------------------------------------------

RELEASED = ORIGINAL / "LRCN_activity_recognition"


@needs_original
def test_official_split_files_give_the_released_lists(tmp_path):
    """classInd.txt + trainlist01/testlist01 (made here from the released split-1 lists, as the official files
    are laid out: 1-based ids, .avi names, sorted, no labels in the test list) convert back to the released
    lists: the same videos and 0-based labels; the training list is shuffled (seeded), the test list kept."""
    train = ucf101.read_video_list(RELEASED / "ucf101_split1_trainVideos.txt")
    test = ucf101.read_video_list(RELEASED / "ucf101_split1_testVideos.txt")
    assert (len(train), len(test)) == (9537, 3783)
    classes = sorted({(label, cls) for cls, _, label in train + test})
    assert [label for label, _ in classes] == list(range(101))
    src = tmp_path / "ucfTrainTestlist"
    src.mkdir()
    (src / "classInd.txt").write_text("".join(f"{label + 1} {cls}\n" for label, cls in classes))
    (src / "trainlist01.txt").write_text("".join(f"{c}/{v}.avi {l + 1}\n" for c, v, l in sorted(train)))
    (src / "testlist01.txt").write_text("".join(f"{c}/{v}.avi\n" for c, v, l in sorted(test)))
    lists = ucf101.convert_splits(src, tmp_path, seed=3)
    assert sorted(lists) == ["ucf101_split1_testVideos.txt", "ucf101_split1_trainVideos.txt"]
    written_train = ucf101.read_video_list(tmp_path / "ucf101_split1_trainVideos.txt")
    written_test = ucf101.read_video_list(tmp_path / "ucf101_split1_testVideos.txt")
    assert sorted(written_train) == sorted(train) and written_test == sorted(test)
    expected = sorted(train)
    random.Random(3).shuffle(expected)
    assert written_train == expected != sorted(train)
    # Released-format lists are checked and written unchanged.
    (tmp_path / "copy").mkdir()
    ucf101.convert_splits(RELEASED, tmp_path / "copy")
    assert (tmp_path / "copy" / "ucf101_split1_testVideos.txt").read_bytes() == \
        (RELEASED / "ucf101_split1_testVideos.txt").read_bytes()


def test_bad_split_files_name_file_and_line(tmp_path):
    (tmp_path / "classInd.txt").write_text("1 Archery\n2 Bowling\n")
    (tmp_path / "trainlist01.txt").write_text("Archery/v_Archery_g01_c01.avi 1\nBowling/v_Bowling_g01_c01.avi 1\n")
    with pytest.raises(ValueError, match=r"trainlist01.txt:2: label 1 disagrees with classInd.txt's 2 for Bowling"):
        ucf101.convert_splits(tmp_path, tmp_path)
    (tmp_path / "trainlist01.txt").write_text("Archery/v_Archery_g01_c01.avi 1\nDiving/v_Diving_g01_c01.avi\n")
    with pytest.raises(ValueError, match=r"trainlist01.txt:2: class 'Diving' is not in classInd.txt"):
        ucf101.convert_splits(tmp_path, tmp_path)
    (tmp_path / "classInd.txt").write_text("1 Archery\nBowling\n")
    with pytest.raises(ValueError, match=r"classInd.txt:2:"):
        ucf101.convert_splits(tmp_path, tmp_path)
    (tmp_path / "bad.txt").write_text("Archery/v_Archery_g01_c01 0\nv_Bowling_g01_c01 1\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: expected '<Class>/<video> <label>'"):
        ucf101.read_video_list(tmp_path / "bad.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no split files"):
        ucf101.convert_splits(tmp_path / "empty", tmp_path)


def test_shard_and_size_arguments():
    assert ucf101.parse_shard("2/4") == (2, 4) and ucf101.parse_size("320x240") == (320, 240)
    for bad in ("0/4", "5/4", "2", "a/b"):
        with pytest.raises(ValueError, match="K/N"):
            ucf101.parse_shard(bad)
    with pytest.raises(ValueError, match="WIDTHxHEIGHT"):
        ucf101.parse_size("320")


# ---- prepare-ucf101 end to end -----------------------------------------------------------------------------

needs_av = pytest.mark.skipif(importlib.util.find_spec("av") is None, reason="PyAV not installed: pip install 'lrcn_native[video]'")

N_FRAMES, SHAPE = 20, (32, 48)
MOTION = (0.5, 0.25)   # px per frame (x, y): sub-pixel, so the numpy Lucas-Kanade (no extra) measures it
GOOD = ["v_Archery_g01_c01", "v_Archery_g02_c01", "v_Bowling_g01_c01", "v_Bowling_g02_c02", "v_Diving_g01_c01"]
BAD = ["v_Diving_g02_c01", "v_Diving_g03_c01"]


def texture(x, y, phase):
    t = np.sin(0.3 * x + 0.1 * y + phase) + np.cos(0.2 * y - 0.15 * x) + 0.5 * np.sin(0.25 * (x + y))
    return np.rint((t + 2.5) / 5 * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """UCF-101's layout (<Class>/<video>.avi) with five moving textures, a garbage file and an empty one, the
    official split files for them, and the output of one uninterrupted run (LK flow, in this process)."""
    root = tmp_path_factory.mktemp("ucf")
    videos = root / "UCF-101"
    yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1]].astype(float)
    for i, name in enumerate(GOOD):
        (videos / name.split("_")[1]).mkdir(parents=True, exist_ok=True)
        frames = (np.stack([texture(xx - MOTION[0] * t, yy - MOTION[1] * t, i)] * 3, 2) for t in range(N_FRAMES))
        write_video(videos / name.split("_")[1] / f"{name}.avi", frames)
    (videos / "Diving" / f"{BAD[0]}.avi").write_bytes(os.urandom(5000))
    (videos / "Diving" / f"{BAD[1]}.avi").write_bytes(b"")
    splits = root / "ucfTrainTestlist"
    splits.mkdir()
    (splits / "classInd.txt").write_text("1 Archery\n2 Bowling\n3 Diving\n")
    (splits / "trainlist01.txt").write_text("".join(f"{n.split('_')[1]}/{n}.avi {1 + i // 2}\n"
                                                    for i, n in enumerate(GOOD[:4])))
    (splits / "testlist01.txt").write_text(f"Diving/{GOOD[4]}.avi\nDiving/{BAD[0]}.avi\n")
    reference = root / "reference"
    summary = ucf101.prepare(videos, reference, flow="lucas_kanade", splits=splits, progress=False)
    return videos, splits, reference, summary


def tree(folder):
    """{relative path: bytes} of every file under folder (hidden partial folders included)."""
    folder = pathlib.Path(folder)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def images(tree_, kind):
    return {k: v for k, v in tree_.items() if k.startswith(kind + "/")}


@needs_av
def test_released_layout_flow_and_lists(dataset):
    _, _, reference, summary = dataset
    assert summary["prepared"] == len(GOOD) and summary["skipped"] == 0
    assert sorted(summary["failed"]) == BAD and all(n in summary["failed"][n] for n in BAD)
    for name in GOOD:
        frames = sorted(os.listdir(reference / "frames" / name))
        assert frames == [f"{name}.{k:04d}.jpg" for k in range(1, N_FRAMES + 1)]
        flows = sorted(os.listdir(reference / "flow_images" / name))
        assert flows == [f"flow_image_{name}.{k:04d}.jpg" for k in range(2, N_FRAMES + 1)]
        assert np.asarray(Image.open(reference / "frames" / name / frames[0])).shape == SHAPE + (3,)
        flow = np.stack([image_to_flow(np.asarray(Image.open(reference / "flow_images" / name / f)))
                         for f in flows])[:, 6:-6, 6:-6]
        # The median over pixels and frames, through mpeg4, JPEG frames, LK and the 1/16 px recipe: within a
        # recipe step of the true motion (measured exact).
        np.testing.assert_allclose(np.median(flow, axis=(0, 1, 2)), MOTION, atol=1 / 16)
    for name in BAD:
        assert not (reference / "frames" / name).exists() and not (reference / "frames" / f".{name}.partial").exists()
    assert not list(reference.rglob(".*.partial"))
    assert (reference / "ucf101_split1_testVideos.txt").read_text() == f"Diving/{GOOD[4]} 2\nDiving/{BAD[0]} 2\n"
    train = ucf101.read_video_list(reference / "ucf101_split1_trainVideos.txt")
    assert sorted(train) == [("Archery", GOOD[0], 0), ("Archery", GOOD[1], 0), ("Bowling", GOOD[2], 1),
                             ("Bowling", GOOD[3], 1)]
    assert summary["lists"] == {"ucf101_split1_trainVideos.txt": [], "ucf101_split1_testVideos.txt": [BAD[0]]}


@needs_av
def test_cli_rerun_is_idempotent_and_reports_failures(dataset, tmp_path, capsys):
    videos, splits, reference, _ = dataset
    out = tmp_path / "out"
    args = ["prepare-ucf101", str(videos), str(out), "--flow", "lucas_kanade", "--jobs", "1",
            "--splits", str(splits)]
    assert main(args) == 1                                   # some videos failed
    text = capsys.readouterr().out
    assert "7 videos: 5 prepared, 0 already complete, 2 failed" in text
    assert all(f"  {n}: VideoError: " in text for n in BAD)
    assert "ucf101_split1_testVideos.txt: 1 listed videos not prepared" in text
    first = tree(out)
    assert first == tree(reference)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")}
    assert main(args) == 1
    assert "7 videos: 0 prepared, 5 already complete, 2 failed" in capsys.readouterr().out
    assert tree(out) == first and {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")} == stamps
    # Frames prepared without flow get their flow images later; other settings are refused for this folder.
    no_flow = tmp_path / "no_flow"
    assert main(args[:2] + [str(no_flow), "--flow", "none", "--jobs", "1"]) == 1
    assert not (no_flow / "flow_images").exists()
    assert main(args[:2] + [str(no_flow), "--flow", "lucas_kanade", "--jobs", "1"]) == 1
    assert images(tree(no_flow), "flow_images") == images(first, "flow_images")
    capsys.readouterr()
    assert main(args[:2] + [str(no_flow), "--fps", "10"]) == 1
    assert "was prepared with fps None, this run asks for 10.0" in capsys.readouterr().err


KILLED_RUN = """
import os, time
from lrcn_native.data import ucf101
from lrcn_native.distributed import world
save = ucf101._save_jpegs
def slow(folder, named, quality):   # 50 ms per image: the kill lands inside a video
    save(folder, ((n, time.sleep(0.05) or im) for n, im in named), quality)
ucf101._save_jpegs = slow
with open(os.path.join({pids!r}, str(world().rank)), "w") as f:   # for the kill
    f.write(str(os.getpid()))
ucf101.prepare({videos!r}, {out!r}, flow="lucas_kanade", progress=False)
"""


def start_and_kill(videos, out, pids, ranks, ready):
    """Starts KILLED_RUN on `ranks` processes, SIGKILLs every one of them once ready() holds (as a machine
    that dies would), and waits for the launcher to end."""
    pids.mkdir()
    proc = subprocess.Popen(python_command(KILLED_RUN.format(pids=str(pids), videos=str(videos), out=str(out)), ranks),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None and not (len(list(pids.iterdir())) == ranks and ready()):
        time.sleep(0.005)
    assert proc.poll() is None, "the run ended before it was killed"
    for pid in pids.iterdir():
        os.kill(int(pid.read_text()), signal.SIGKILL)
    proc.wait(timeout=30)


@needs_av
def test_resume_after_sigkill_equals_an_uninterrupted_run(dataset, tmp_path):
    videos, _, reference, _ = dataset
    out = tmp_path / "out"
    # Kill once the second video's frames are half written: one video is complete, one partial.
    partial = out / "frames" / f".{GOOD[1]}.partial"
    start_and_kill(videos, out, tmp_path / "pids", 1, lambda: len(list(partial.glob("*.jpg"))) >= 5)
    assert (out / "frames" / GOOD[0]).is_dir() and partial.is_dir() and not (out / "frames" / GOOD[1]).exists()
    summary = ucf101.prepare(videos, out, flow="lucas_kanade", progress=False)
    assert summary["skipped"] == 1 and summary["prepared"] == len(GOOD) - 1
    assert not list(out.rglob(".*.partial"))
    assert images(tree(out), "frames") == images(tree(reference), "frames")
    assert images(tree(out), "flow_images") == images(tree(reference), "flow_images")


@needs_av
def test_shards_make_the_whole_and_workers_agree(dataset, tmp_path):
    videos, _, reference, _ = dataset
    parts = []
    for k in (1, 2):
        summary = ucf101.prepare(videos, tmp_path / f"shard{k}", flow="lucas_kanade", shard=(k, 2),
                                 jobs=2 if k == 1 else 1, progress=False)
        parts.append(tree(tmp_path / f"shard{k}"))
        assert summary["videos"] == (4 if k == 1 else 3)      # 7 videos in name order, interleaved
    names = [{k.split("/")[1] for k in images(p, "frames")} for p in parts]
    assert not names[0] & names[1] and names[0] | names[1] == set(GOOD)
    whole = {**images(parts[0], "frames"), **images(parts[1], "frames"),
             **images(parts[0], "flow_images"), **images(parts[1], "flow_images")}
    assert whole == {**images(tree(reference), "frames"), **images(tree(reference), "flow_images")}


@needs_av
def test_folders_of_frames_are_videos_too(dataset, tmp_path):
    """A folder of frame images (here: the reference's own frames, copied) is prepared like a video file."""
    _, _, reference, _ = dataset
    src = tmp_path / "frames_in" / GOOD[0]
    src.mkdir(parents=True)
    for f in sorted((reference / "frames" / GOOD[0]).iterdir()):
        (src / f.name).write_bytes(f.read_bytes())
    summary = ucf101.prepare(tmp_path / "frames_in", tmp_path / "out", flow="none", progress=False)
    assert summary["prepared"] == 1 and not summary["failed"]
    assert sorted(os.listdir(tmp_path / "out" / "frames" / GOOD[0])) == sorted(os.listdir(src))
    with pytest.raises(ValueError, match="two videos named 'v_Archery_g01_c01'"):
        (tmp_path / "frames_in" / f"{GOOD[0]}.avi").write_bytes(b"")
        ucf101.find_videos(tmp_path / "frames_in")


@needs_av
@pytest.mark.parametrize("flow", [False, True])
def test_the_released_data_layer_reads_what_was_prepared(dataset, monkeypatch, flow):
    """The released train_test nets' Python layer (videoReadTrain_RGB / _flow, as SequenceData) reads the
    prepared folder as released: its relative paths from the working directory, the list's videos in order.
    Frames here are 32×48, so the sizes come from param_str; mirroring off so the flow's sign is kept."""
    _, _, reference, _ = dataset
    monkeypatch.chdir(reference)
    kind = "flow" if flow else "RGB"
    net = lrcn_native.Net(parse(
        f'layer {{ name: "data" type: "Python" top: "data" top: "label" top: "clip_markers" python_param {{ '
        f'module: "sequence_input_layer" layer: "videoReadTrain_{kind}" param_str: "frames: 8 buffer_size: 4 '
        f'new_height: {SHAPE[0]} new_width: {SHAPE[1]} crop_size: 24 mirror: false" }} }}', "released.prototxt"),
        lrcn_native.TRAIN)
    net.forward()
    data, label = net.blobs["data"].data.reshape(8, 4, 3, 24, 24), net.blobs["label"].data.reshape(8, 4)
    listed = ucf101.read_video_list(reference / "ucf101_split1_trainVideos.txt")
    np.testing.assert_array_equal(label, np.tile([lbl for _, _, lbl in listed], (8, 1)))
    np.testing.assert_array_equal(net.blobs["clip_markers"].data.reshape(8, 4)[0], 0)
    if flow:
        # BGR minus 128: R is x·16, G is y·16 (the recipe); the median recovers the motion within a step.
        np.testing.assert_allclose([np.median(data[:, :, 2]) / 16, np.median(data[:, :, 1]) / 16], MOTION,
                                   atol=1 / 16)
    else:
        # the texture's grey level moved through the released RGB mean (B 103.939 … R 128.68): channels differ
        # by exactly the mean's differences
        np.testing.assert_allclose(data[:, :, 0] - data[:, :, 2], 128.68 - 103.939, atol=1e-3)


# ---- under mpiexec -------------------------------------------------------------------------------------------

MPI_CLI = "from lrcn_native.cli import main; sys.exit(main({args!r}))"


def lk_args(videos, out, *more):
    return ["prepare-ucf101", str(videos), str(out), "--flow", "lucas_kanade", *map(str, more)]


@needs_av
@needs_mpi
def test_two_ranks_equal_one_process(dataset, tmp_path):
    """`mpiexec -n 2 lrcn prepare-ucf101`: the ranks take the videos i (in name order) with i mod 2 = rank, rank 0
    alone writes the settings and lists: the result equals one process's byte for byte. Each rank reports its own
    corrupt video at once; rank 0 prints the totals of both, failures by rank; every rank exits 1."""
    videos, splits, reference, _ = dataset
    out = tmp_path / "out"
    run = run_python(MPI_CLI.format(args=lk_args(videos, out, "--splits", splits)), timeout=120, ranks=2)
    assert run.returncode == 1, run.stderr
    assert tree(out) == tree(reference)
    # rank 0: videos 0, 2, 4, 6 (BAD[1]); rank 1: 1, 3, 5 (BAD[0])
    assert run.stdout.count("7 videos on 2 ranks: 5 prepared, 0 already complete, 2 failed") == 1
    assert "  rank 0: 4 videos, 3 prepared, 0 already complete, 1 failed" in run.stdout
    assert "  rank 1: 3 videos, 2 prepared, 0 already complete, 1 failed" in run.stdout
    assert f"  {BAD[0]} (rank 1): VideoError: " in run.stdout and f"  {BAD[1]} (rank 0): VideoError: " in run.stdout
    assert f"rank 1/2: {BAD[0]}: skipped: VideoError: " in run.stderr
    assert "prepare-ucf101 rank 0/2: 4/4 videos, 1 failed" in run.stderr
    assert "ucf101_split1_testVideos.txt: 1 listed videos not prepared" in run.stdout
    # A refused setting stops both ranks with rank 0's message (no rank left waiting), nothing touched.
    run = run_python(MPI_CLI.format(args=lk_args(videos, out, "--fps", 10)), timeout=60, ranks=2)
    assert run.returncode == 1 and "was prepared with fps None, this run asks for 10.0" in run.stderr
    assert tree(out) == tree(reference)


@needs_av
@needs_mpi
def test_shards_split_again_by_ranks(dataset, tmp_path):
    """--shard 1/2 under 2 ranks (machines x ranks): the shard's videos 0, 2, 4, 6 go to rank 0 (0, 4) and rank 1
    (2, 6); rank 1's corrupt video 6 is reported with its rank while rank 0 and the rest of rank 1 finish. Shard
    2/2, prepared by one process into the same folder, completes it: the whole equals one process's run."""
    videos, splits, reference, _ = dataset
    out = tmp_path / "out"
    run = run_python(MPI_CLI.format(args=lk_args(videos, out, "--shard", "1/2", "--splits", splits)), timeout=120,
                     ranks=2)
    assert run.returncode == 1, run.stderr
    assert "4 videos (shard 1/2) on 2 ranks: 3 prepared, 0 already complete, 1 failed" in run.stdout
    assert "  rank 0: 2 videos, 2 prepared, 0 already complete, 0 failed" in run.stdout
    assert "  rank 1: 2 videos, 1 prepared, 0 already complete, 1 failed" in run.stdout
    assert f"  {BAD[1]} (rank 1): VideoError: " in run.stdout
    assert sorted(os.listdir(out / "frames")) == [GOOD[0], GOOD[2], GOOD[4]]
    ucf101.prepare(videos, out, flow="lucas_kanade", shard=(2, 2), splits=splits, progress=False)
    assert tree(out) == tree(reference)


@needs_av
@needs_mpi
def test_resume_after_sigkill_of_two_ranks(dataset, tmp_path):
    """Both ranks SIGKILLed in the middle of their videos leave complete and partial folders; a new 2-rank run
    redoes only what is unfinished, and the result equals an uninterrupted run."""
    videos, _, reference, _ = dataset
    out = tmp_path / "out"
    start_and_kill(videos, out, tmp_path / "pids", 2, lambda: (out / "frames" / GOOD[0]).is_dir() and any(
        len(list(p.glob("*.jpg"))) >= 3 for p in out.glob("*/.*.partial")))
    assert list(out.glob("*/.*.partial")) and not (out / "frames" / GOOD[4]).exists()
    run = run_python(MPI_CLI.format(args=lk_args(videos, out)), timeout=120, ranks=2)
    assert run.returncode == 1, run.stderr                                      # the two corrupt videos
    prepared, skipped = map(int, re.search(r"(\d+) prepared, (\d+) already complete, 2 failed", run.stdout).groups())
    assert prepared + skipped == len(GOOD) and prepared >= 2          # the partial one, and GOOD[4] (not started)
    assert not list(out.rglob(".*.partial"))
    assert images(tree(out), "frames") == images(tree(reference), "frames")
    assert images(tree(out), "flow_images") == images(tree(reference), "flow_images")


@needs_av
@needs_mpi
def test_a_rank_that_fails_ends_every_rank(dataset, tmp_path):
    """An error outside one video's work (here: the worker itself failing on rank 1) ends the whole run at once,
    naming the rank, instead of leaving rank 0 waiting forever for rank 1's totals."""
    videos, _, _, _ = dataset
    code = ("from lrcn_native.data import ucf101\nfrom lrcn_native.distributed import world\n"
            "def fail(*args):\n    raise MemoryError('out of memory')\n"
            "if world().rank == 1:\n    ucf101._job = fail\n"
            f"ucf101.prepare({str(videos)!r}, {str(tmp_path / 'out')!r}, flow='none', progress=False)\n")
    run = run_python(code, timeout=60, ranks=2)
    assert run.returncode != 0
    assert "prepare-ucf101: rank 1/2 failed (MemoryError: out of memory): ending every rank" in run.stderr
