"""The `lrcn` command as the `caffe` tool: Caffe's flag syntax, checked numbers, help, version, pipes."""
import os
import subprocess
import sys

import pytest

import lrcn_native as caffe
from lrcn_native import cli
from lrcn_native.cli import main

CONV = os.path.join(os.path.dirname(__file__), "golden", "conv")

# "a" is in every net, "ab" only with stages a and b, "lvl" only at level >= 2, "tr" only in TRAIN.
STAGED = '''name: "staged" force_backward: true
layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 } } }
layer { name: "a" type: "ReLU" bottom: "x" top: "a" }
layer { name: "ab" type: "ReLU" bottom: "a" top: "ab" include { stage: "a" stage: "b" } }
layer { name: "lvl" type: "ReLU" bottom: "a" top: "lvl" include { min_level: 2 } }
layer { name: "tr" type: "ReLU" bottom: "a" top: "tr" include { phase: TRAIN } }
'''


def timed_layers(out):
    names = {line.split("\t")[0].strip() for line in out.splitlines() if "\tforward:" in line}
    return {n for n in names if not n.endswith("_split")}  # the Split layers Caffe inserts


@pytest.mark.parametrize("argv, layers", [
    (["-model", "{net}", "-iterations", "1"], {"in", "a", "tr"}),
    (["-model={net}", "-iterations=1", "-phase", "TEST", "-level", "2"], {"in", "a", "lvl"}),
    (["-model", "{net}", "-iterations", "1", "-stage", "a,b"], {"in", "a", "ab", "tr"}),
    (["--model", "{net}", "--iterations", "1", "--stage", "a,b"], {"in", "a", "ab", "tr"}),
    (["--model", "{net}", "--iterations", "1", "--stage", "a", "--stage", "b"], {"in", "a", "ab", "tr"}),
    (["--model", "{net}", "--iterations", "1", "--stage", "a"], {"in", "a", "tr"}),
])
def test_time_takes_caffe_and_our_flags(tmp_path, capsys, argv, layers):
    net = tmp_path / "net.prototxt"
    net.write_text(STAGED)
    assert main(["time"] + [a.replace("{net}", str(net)) for a in argv]) == 0
    assert timed_layers(capsys.readouterr().out) == layers


def test_caffe_syntax_rewrites_only_caffe_flags():
    assert cli._caffe_syntax(["train", "-solver", "s.prototxt", "-weights=a,b", "-gpu", "all", "--plot", "p.png",
                              "-sigint_effect", "none", "-x", "-1"]) == [
        "train", "--solver", "s.prototxt", "--weights=a,b", "--gpu", "all", "--plot", "p.png",
        "--sigint_effect", "none", "-x", "-1"]


@pytest.mark.parametrize("argv, message", [
    (["time", "--model", "n", "--iterations", "0"], "must be >= 1"),
    (["time", "--model", "n", "-iterations", "-1"], "must be >= 1"),
    (["test", "--model", "n", "--weights", "w", "--iterations", "x"], "'x' is not an integer"),
    (["time", "--model", "n", "--phase", "VAL"], "invalid choice"),
    (["caption", "--weights", "w", "--vocab", "v", "--beam-size", "0"], "must be >= 1"),
    (["caption", "--weights", "w", "--vocab", "v", "--temp", "0"], "must be > 0"),
    (["evaluate-activity", "--fusion", "1.5"], "must be in [0, 1]"),
    (["prepare-ucf101", "v", "o", "--quality", "101"], "must be in [1, 100]"),
    (["prepare-ucf101", "v", "o", "--jobs", "0"], "must be >= 1"),
    (["train", "-solver", "s", "-sigint_effect", "later"], "invalid choice"),
])
def test_numbers_and_choices_are_checked(capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_gpu_specs(tmp_path, capsys):
    assert cli._gpu_ids("0") == [0] and cli._gpu_ids("1,0") == [1, 0]
    with pytest.raises(ValueError, match="device ids"):
        cli._gpu_ids("first")
    with pytest.raises(ValueError, match=">= 0"):
        cli._gpu_ids("-1")
    if caffe.backend.K.device_count() == 0:  # `all` on a machine without a GPU: a clear error, not int('all')
        net = tmp_path / "net.prototxt"
        net.write_text(STAGED)
        assert main(["time", "-model", str(net), "-gpu", "all"]) == 1
        err = capsys.readouterr().err
        assert "--gpu all: no CUDA device is visible" in err and "int" not in err


def test_train_with_caffe_flags(tmp_path, capsys, caplog):
    caplog.set_level("INFO", logger="lrcn_native")
    (tmp_path / "net.prototxt").write_text(STAGED)
    (tmp_path / "s.prototxt").write_text(f'net: "{tmp_path / "net.prototxt"}" base_lr: 0.1 max_iter: 1 '
                                         f'lr_policy: "fixed" solver_mode: CPU snapshot_after_train: false '
                                         f'test_net: "{tmp_path / "net.prototxt"}" test_iter: 1 test_interval: 10')
    w = os.path.join(CONV, "weights.caffemodel")
    # Two weight files, comma-separated: each logged once, though loaded into the train and the test net.
    assert main(["train", "-solver", str(tmp_path / "s.prototxt"), "-weights", f"{w},{w}", "-stage", "a,b",
                 "-sigint_effect", "snapshot", "-sighup_effect", "none"]) == 0
    assert caplog.text.count(f"Finetuning from {w}") == 2
    assert "CPU sgemm: " in caplog.text  # the BLAS line, logged at import before the CLI's handler, again
    assert main(["train", "-solver", str(tmp_path / "s.prototxt"), "-weights", w, "-snapshot", "x.solverstate"]) == 1
    assert "not both" in capsys.readouterr().err
    assert main(["train", "-solver", str(tmp_path / "s.prototxt"), "-gpu", "0,1"]) == 1
    assert "several GPUs" in capsys.readouterr().err


def test_help_shows_defaults_and_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["time", "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0
    assert "forward-backward passes timed (default: 50)" in " ".join(out.split())
    assert "(default: TRAIN)" in out and "--level" in out and "(default: 0)" in out
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: stop)" in out and "(default: snapshot)" in out
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"lrcn_native {caffe.__version__}"


def test_time_deploy_failure_under_train_hints_at_test_phase(tmp_path, capsys):
    net = tmp_path / "net.prototxt"
    # The label input exists only in TRAIN nets: a TEST-only layer reading "x" fails under TRAIN.
    net.write_text('name: "d"\nlayer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 } }'
                   ' include { phase: TEST } }\nlayer { name: "a" type: "ReLU" bottom: "x" top: "a" }\n')
    assert main(["time", "--model", str(net), "--iterations", "1"]) == 1
    assert "it builds with --phase TEST" in capsys.readouterr().err
    assert main(["time", "--model", str(net), "--iterations", "1", "--phase", "TEST"]) == 0


def test_convert_says_which_format(tmp_path, capsys):
    src = os.path.join(CONV, "weights.caffemodel")
    assert main(["convert", src, str(tmp_path / "w.bin")]) == 0
    assert "binary .caffemodel (V2); name it *.h5 for HDF5" in capsys.readouterr().out
    assert main(["convert", src, str(tmp_path / "w.h5")]) == 0
    assert ", HDF5)" in capsys.readouterr().out


def test_inspect_into_a_closed_pipe_is_quiet():
    root = os.path.dirname(os.path.dirname(caffe.__file__))
    proc = subprocess.Popen([sys.executable, "-c", f"import sys; sys.path.insert(0, {root!r}); "
                             "from lrcn_native.cli import main; sys.exit(main())", "inspect",
                             os.path.join(CONV, "weights.caffemodel")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line is written (as `| head -0`)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_device_query_without_cuda_or_device(capsys, monkeypatch):
    K = caffe.backend.K
    if not K.has_cuda:
        assert main(["device_query"]) == 1
        assert "built without CUDA" in capsys.readouterr().out
    elif K.device_count() == 0:
        assert main(["device_query"]) == 1
        assert "no CUDA device is visible" in capsys.readouterr().out


def test_device_query_report(capsys, monkeypatch):
    """The report's fields from what the binding returns (a stand-in for the CUDA module: no GPU here)."""
    class FakeK:
        has_cuda, cuda_architectures = True, "80 90-real"

        @staticmethod
        def device_count():
            return 2

        @staticmethod
        def device_properties(i):
            return {"name": f"GPU{i}", "total_memory": 80 * 2 ** 30, "compute_capability": ((9, 0), (8, 6))[i],
                    "multiprocessors": 132, "runtime_version": 13000, "driver_version": 13010}
    monkeypatch.setattr(caffe.backend, "K", FakeK)
    assert main(["device_query"]) == 0
    out = capsys.readouterr().out
    assert "architectures: 80 90-real" in out and "Name:                          GPU1" in out
    assert "Compute capability:            9.0" in out and "(80.0 GiB)" in out
    assert out.count("Warning") == 1 and "no machine code for sm_86" in out  # 8.6 runs 8.0's PTX
    assert main(["device_query", "-gpu", "2"]) == 1
    assert "device 2 does not exist (2 visible)" in capsys.readouterr().err
    assert cli._architecture_note("80-real", 90) == "no kernels for sm_90: the GPU cannot run this build"
    assert cli._architecture_note("90-virtual", 86).startswith("no kernels")
    assert cli._architecture_note("90", 90) is None and cli._architecture_note("native", 75) is None


# --- found by a new user --------------------------------------------------------------------------------
def test_import_from_a_source_tree_without_extension_says_what_to_do(tmp_path):
    import shutil
    src = os.path.dirname(caffe.__file__)
    shutil.copytree(src, tmp_path / "lrcn_native", ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
    (tmp_path / "CMakeLists.txt").write_text("# the repository root\n")
    proc = subprocess.run([sys.executable, "-c", "import lrcn_native"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert "compiled module (_C or _cuda) is not in" in last and "build it in place" in last
    assert "circular import" not in proc.stderr


def test_unknown_bottom_names_the_stages_and_levels_the_file_declares(tmp_path):
    net = tmp_path / "net.prototxt"
    net.write_text(STAGED + 'layer { name: "p" type: "ReLU" bottom: "ab" top: "p" include { min_level: 1 } }\n')
    with pytest.raises(caffe.NetError) as e:
        caffe.Net(str(net), caffe.TRAIN, level=1)
    text = str(e.value)
    assert "unknown bottom blob 'ab'" in text and "stages a, b" in text and "levels min_level 2, min_level 1" in text
    assert "built for phase TRAIN, level 1, stages []" in text
    caffe.Net(str(net), caffe.TRAIN, level=1, stages=("a", "b"))  # the hint's fix works


def test_weights_matching_no_layer_warn(tmp_path, caplog):
    from lrcn_native.proto.caffemodel import LayerWeights, write_caffemodel
    net = caffe.Net(os.path.join(CONV, "net.prototxt"), caffe.TEST)
    other = tmp_path / "other.caffemodel"
    write_caffemodel(str(other), "other", [LayerWeights("fc_x", "InnerProduct", [])])
    caplog.set_level("INFO", logger="lrcn_native")
    net.copy_from(str(other))
    assert "Ignoring source layer fc_x" in caplog.text
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "none of its 1 layers (fc_x) is a layer of net" in warnings[0].getMessage()
    caplog.clear()
    net.copy_from(os.path.join(CONV, "weights.caffemodel"))  # a matching file: no warning
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


@pytest.mark.parametrize("content, kind", [
    (b'name: "a prototxt, not weights"\n', "not a Caffe .caffemodel (binary NetParameter): "),
    (b"\x89HDF\r\n\x1a\n" + b"\0" * 64, "not a Caffe HDF5 file: "),
])
def test_wrong_weight_files_say_what_they_are_not(tmp_path, content, kind):
    path = tmp_path / "w.caffemodel"
    path.write_bytes(content)
    net = caffe.Net(os.path.join(CONV, "net.prototxt"), caffe.TEST)
    with pytest.raises(ValueError) as e:
        net.copy_from(str(path))
    assert str(e.value).startswith(f"{path}: {kind}")


# --- V1 prototxt (the model zoo's VGG_ILSVRC_16_layers_deploy.prototxt format, scaled down) ---------------
V1_DEPLOY = '''name: "VGG_ILSVRC_16_layers"
input: "data"
input_dim: 2
input_dim: 3
input_dim: 12
input_dim: 12
layers {
  bottom: "data"
  top: "conv1_1"
  name: "conv1_1"
  type: CONVOLUTION
  blobs_lr: 1
  blobs_lr: 2
  weight_decay: 1
  weight_decay: 0
  convolution_param {
    num_output: 4
    pad: 1
    kernel_size: 3
  }
}
layers {
  bottom: "conv1_1"
  top: "conv1_1"
  name: "relu1_1"
  type: RELU
}
layers {
  bottom: "conv1_1"
  top: "pool1"
  name: "pool1"
  type: POOLING
  pooling_param {
    pool: MAX
    kernel_size: 2
    stride: 2
  }
}
layers {
  bottom: "pool1"
  top: "fc6"
  name: "fc6"
  type: INNER_PRODUCT
  param: "shared_fc"
  inner_product_param {
    num_output: 5
  }
}
layers {
  bottom: "fc6"
  top: "fc6"
  name: "drop6"
  type: DROPOUT
  dropout_param {
    dropout_ratio: 0.5
  }
}
layers {
  bottom: "fc6"
  top: "prob"
  name: "prob"
  type: SOFTMAX
}
'''


def test_v1_prototxt_is_upgraded_in_memory_and_by_upgrade_net(tmp_path, capsys, caplog):
    import numpy as np
    caplog.set_level("INFO", logger="lrcn_native")
    v1 = tmp_path / "deploy_v1.prototxt"
    v1.write_text(V1_DEPLOY)
    net = caffe.Net(str(v1), caffe.TEST)
    assert f"{v1}: V1 prototxt ('layers' blocks) upgraded to V2 in memory" in caplog.text
    assert [l.type for l in net.layers] == ["Input", "Convolution", "ReLU", "Pooling", "InnerProduct", "Dropout",
                                            "Softmax"]
    assert net.blobs["prob"].data.shape == (2, 5) and net.params["fc6"][0].data.shape == (5, 4 * 6 * 6)
    # blobs_lr / weight_decay became param { lr_mult decay_mult }; fc6's param name became param { name }
    assert net._lr_mult[:2] == [1, 2] and net._decay_mult[:2] == [1, 0]
    assert "shared_fc" in net._param_owner
    v2 = tmp_path / "deploy_v2.prototxt"
    assert main(["upgrade-net", str(v1), str(v2)]) == 0
    assert "upgraded from V1 to V2" in capsys.readouterr().out
    text = v2.read_text()
    assert "layers {" not in text and 'type: "Convolution"' in text and "pool: MAX" in text
    assert "param {\n    lr_mult: 1\n    decay_mult: 1\n  }" in text and 'name: "shared_fc"' in text
    upgraded = caffe.Net(str(v2), caffe.TEST)  # the same net from the file written
    for name in net.blobs:
        assert upgraded.blobs[name].data.shape == net.blobs[name].data.shape
    assert upgraded._lr_mult == net._lr_mult and upgraded._decay_mult == net._decay_mult
    x = np.random.default_rng(0).standard_normal(net.blobs["data"].data.shape).astype(np.float32)
    path = tmp_path / "w.caffemodel"
    net.save(str(path))
    upgraded.copy_from(str(path))
    np.testing.assert_array_equal(net.forward(data=x)["prob"], upgraded.forward(data=x)["prob"])


@pytest.mark.parametrize("edit, message", [
    (("type: RELU", "type: RELUX"), "V1 layer type 'RELUX' is not one of Caffe's V1 LayerType names"),
    (("type: RELU", 'type: "ReLU"'), "V1 layer type 'ReLU' is not one of"),
    (("blobs_lr: 2", "blobs_lr: 2 lr_mult: 2"), "field 'lr_mult' is not a field of a V1 layer"),
    (('name: "prob"', 'name: "prob" } layer { name: "x" type: "ReLU" bottom: "prob" top: "x"'),
     "mixes V1 'layers' and V2 'layer'"),
])
def test_bad_v1_prototxt_names_file_and_line(tmp_path, edit, message):
    v1 = tmp_path / "v1.prototxt"
    v1.write_text(V1_DEPLOY.replace(*edit))
    with pytest.raises(caffe.PrototxtError) as e:
        caffe.Net(str(v1), caffe.TEST)
    assert str(e.value).startswith(f"{v1}:") and message in str(e.value)


def test_upgrade_solver(tmp_path, capsys):
    old = tmp_path / "old_solver.prototxt"
    old.write_text('net: "train_val.prototxt"\nbase_lr: 0.01\nsolver_type: ADAGRAD\nmax_iter: 10\n')
    new = tmp_path / "solver.prototxt"
    assert main(["upgrade-solver", str(old), str(new)]) == 0
    assert 'solver_type ADAGRAD -> type "AdaGrad"' in capsys.readouterr().out
    assert new.read_text() == 'net: "train_val.prototxt"\nbase_lr: 0.01\ntype: "AdaGrad"\nmax_iter: 10\n'
    old.write_text('solver_type: ADAGRAD type: "SGD"')
    assert main(["upgrade-solver", str(old), str(new)]) == 1
    assert "cannot both be specified" in capsys.readouterr().err
