"""Log lines as pycaffe prints them: a plain script that trains shows the solver's lines on stderr in glog's
format, once each, whatever else configures logging; GLOG_minloglevel, init_log() and log(). Each case runs
in a fresh interpreter, where nothing (pytest included) has configured logging."""
import logging
import re

from util import run_python

from lrcn_native.glog import GlogFormatter

GLOG_LINE = r"[IWEF]\d{4} \d\d:\d\d:\d\d\.\d{6} \d+ [^ ]+:\d+\] "
NET = """name: "tiny"
layer { name: "x" type: "Input" top: "x" top: "label" input_param { shape { dim: 2 dim: 3 } shape { dim: 2 } } }
layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y" inner_product_param { num_output: 4 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "y" bottom: "label" top: "loss" }
"""


def train(tmp_path, monkeypatch, before="", env=None):
    """Runs a script that trains 4 iterations (displaying every 2) after ``before``; returns (stdout, stderr)."""
    (tmp_path / "net.prototxt").write_text(NET)
    (tmp_path / "solver.prototxt").write_text('net: "net.prototxt" base_lr: 0.1 lr_policy: "fixed" display: 2 '
                                              'max_iter: 4 solver_mode: CPU')
    monkeypatch.chdir(tmp_path)
    for name in ("GLOG_minloglevel", "GLOG_logtostderr", "GLOG_log_dir"):
        monkeypatch.delenv(name, raising=False)
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    r = run_python("import logging, sys\n" + before + "\nimport lrcn_native as caffe\n"
                   "caffe.SGDSolver('solver.prototxt').solve()\n"
                   "caffe.log('from the script')\n"
                   "logging.getLogger('lrcn_native').error('an error line')\n", timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout, r.stderr


def test_a_plain_script_prints_the_solvers_lines_in_glog_format(tmp_path, monkeypatch):
    out, err = train(tmp_path, monkeypatch)
    lines = err.splitlines()
    assert out == "" and lines and all(re.match(GLOG_LINE, line) for line in lines), err
    for message in ("Solving tiny", "Iteration 2 (", "Iteration 4, loss = ", "Optimization Done."):
        assert sum(message in line for line in lines) == 1, (message, err)
    # caffe.log names the script's own line (line 6: run_python puts a line of its own first), as LOG(INFO) would.
    assert re.search(r"^I.* <string>:6\] from the script$", err, re.MULTILINE)


def test_glog_minloglevel_is_read_at_import(tmp_path, monkeypatch):
    _, err = train(tmp_path, monkeypatch, env={"GLOG_minloglevel": "2"})
    assert re.fullmatch(GLOG_LINE.replace("[IWEF]", "E") + r"an error line\n", err), err
    _, err = train(tmp_path, monkeypatch, env={"GLOG_minloglevel": "x"})
    assert "ignoring GLOG_minloglevel='x'" in err and "Solving tiny" in err


def test_basic_config_prints_each_line_once_in_the_users_format(tmp_path, monkeypatch):
    _, err = train(tmp_path, monkeypatch, before="logging.basicConfig(format='USER %(message)s')")
    assert err.count("Solving tiny") == 1 and "USER Solving tiny" in err
    assert not re.search(GLOG_LINE, err)


def test_a_user_who_configures_the_package_logger_wins(tmp_path, monkeypatch):
    before = ("h = logging.StreamHandler(sys.stdout); h.setFormatter(logging.Formatter('MINE %(message)s'))\n"
              "lg = logging.getLogger('lrcn_native'); lg.addHandler(h); lg.setLevel(logging.WARNING)\n"
              "lg.propagate = False")
    out, err = train(tmp_path, monkeypatch, before=before, env={"GLOG_minloglevel": "0"})
    assert err == "" and out == "MINE an error line\n"


def test_init_log_without_stderr_writes_glogs_file(tmp_path, monkeypatch):
    logs = tmp_path / "logs"
    logs.mkdir()
    _, err = train(tmp_path, monkeypatch, before="import lrcn_native; lrcn_native.init_log()",
                   env={"GLOG_log_dir": str(logs)})
    assert re.fullmatch(GLOG_LINE.replace("[IWEF]", "E") + r"an error line\n", err), err  # only ERROR+ on stderr
    (path,) = [p for p in logs.iterdir() if not p.is_symlink()]
    assert re.fullmatch(r".+\.log\.INFO\.\d{8}-\d{6}\.\d+", path.name)
    assert (logs / f"{path.name.split('.')[0]}.INFO").resolve() == path.resolve()
    text = path.read_text()
    assert text.startswith("Log file created at: ") and text.count("Solving tiny") == 1 and "an error line" in text
    _, err = train(tmp_path, monkeypatch, before="import lrcn_native; lrcn_native.init_log(0, True)")
    assert err.count("Solving tiny") == 1


def test_the_cli_prints_each_line_once(tmp_path, monkeypatch):
    train(tmp_path, monkeypatch)  # writes the files
    r = run_python("import sys; from lrcn_native import cli; sys.exit(cli.main(['train', '-solver', "
                   "'solver.prototxt']))", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("Solving tiny") == 1 and r.stderr.count("Optimization Done.") == 1
    assert all(re.match(GLOG_LINE, line) for line in r.stderr.splitlines() if "Iteration" in line)


def test_glog_prefix():
    record = logging.LogRecord("lrcn_native", logging.INFO, "/x/solver.py", 228, "Iteration %d, lr = %s",
                               (20, "0.001"), None)
    line = GlogFormatter().format(record)
    # parse_log.py reads the month and day from the first token and the time from the second.
    assert re.fullmatch(r"I\d{4} \d\d:\d\d:\d\d\.\d{6} \d+ solver\.py:228\] Iteration 20, lr = 0\.001", line)
