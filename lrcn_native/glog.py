"""Log lines as pycaffe prints them: glog's format, on stderr, without the user configuring logging.

Caffe logs through glog, which writes every line to stderr until ``init_log`` says otherwise, so a pycaffe
script that trains shows the solver's and the net's lines. The package logger "lrcn_native" gets a default
handler that does the same and steps aside whenever someone else handles its records: a handler on the root
logger (``logging.basicConfig``, the ``lrcn`` CLI, pytest) or one of the user's on "lrcn_native". Its level
comes from GLOG_minloglevel (0 INFO, 1 WARNING, 2 ERROR, 3 FATAL), read at import, unless the user set one.
"""
import datetime
import getpass
import logging
import os
import socket
import sys
import tempfile
import time

log = logging.getLogger("lrcn_native")
SEVERITIES = (logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)  # glog's 0..3


class GlogFormatter(logging.Formatter):
    """glog's line prefix, as Caffe writes it: 'I0512 14:02:03.123456 4242 solver.py:228] message'."""

    def format(self, record):
        t = time.localtime(record.created)
        us = int(record.created % 1 * 1e6)
        text = (f"{record.levelname[0]}{t.tm_mon:02d}{t.tm_mday:02d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
                f".{us:06d} {record.process} {record.filename}:{record.lineno}] {record.getMessage()}")
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class _DefaultHandler(logging.Handler):
    """glog's sinks: every line to stderr, or (after ``init_log`` without logtostderr) to a log file, with
    lines of GLOG_stderrthreshold (default ERROR) and above also to stderr."""

    def __init__(self):
        super().__init__()
        self.setFormatter(GlogFormatter())
        self.file = None
        self.stderr_threshold = logging.ERROR

    def handle(self, record):
        others = [h for h in log.handlers if h is not self]
        if others or (log.propagate and logging.getLogger().handlers):
            return False  # the user's (or the CLI's) handlers print it
        return super().handle(record)

    def emit(self, record):
        text = self.format(record) + "\n"
        if self.file is not None:
            self.file.write(text)
            self.file.flush()
        if self.file is None or record.levelno >= self.stderr_threshold:
            sys.stderr.write(text)  # looked up now: a redirected sys.stderr gets the lines


_handler = _DefaultHandler()


def _env_int(name, default):
    """An integer glog flag from its GLOG_ variable, clamped to a severity; a bad value is named, not fatal."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        return min(max(int(text), 0), len(SEVERITIES) - 1)
    except ValueError:
        sys.stderr.write(f"lrcn_native: ignoring {name}={text!r} (not an integer; glog severities are 0 INFO, "
                         f"1 WARNING, 2 ERROR, 3 FATAL)\n")
        return default


def _install():
    """At import: the default handler, and GLOG_minloglevel as the level unless the user chose one."""
    log.addHandler(_handler)
    if log.level == logging.NOTSET:
        log.setLevel(SEVERITIES[_env_int("GLOG_minloglevel", 0)])


def _open_log_file():
    """glog's file: <log_dir>/<program>.<host>.<user>.log.INFO.<yyyymmdd-hhmmss>.<pid>, with the link
    <program>.INFO to it; log_dir is GLOG_log_dir, else the temporary directory."""
    folder = os.environ.get("GLOG_log_dir") or tempfile.gettempdir()
    program = os.path.basename(sys.argv[0] if sys.argv and sys.argv[0] else sys.executable) or "python"
    now = datetime.datetime.now()
    name = f"{program}.{socket.gethostname()}.{getpass.getuser()}.log.INFO.{now:%Y%m%d-%H%M%S}.{os.getpid()}"
    path = os.path.join(folder, name)
    f = open(path, "a")  # noqa: SIM115  (kept open: the handler appends each line)
    f.write(f"Log file created at: {now:%Y/%m/%d %H:%M:%S}\nRunning on machine: {socket.gethostname()}\n"
            "Log line format: [IWEF]mmdd hh:mm:ss.uuuuuu threadid file:line] msg\n")
    link = os.path.join(folder, f"{program}.INFO")
    try:
        if os.path.islink(link):
            os.unlink(link)
        os.symlink(name, link)
    except OSError:
        pass  # glog too carries on without its convenience link
    return f


def init_log(level=None, stderr=None):
    """pycaffe's ``caffe.init_log()``, ``init_log(level)``, ``init_log(level, stderr)``: glog's
    InitGoogleLogging. ``level`` sets the minimum severity logged (0 INFO, 1 WARNING, 2 ERROR, 3 FATAL).
    ``stderr`` is glog's logtostderr (default: GLOG_logtostderr, else false): when false, as in glog, the lines
    go to a log file in GLOG_log_dir (else the temporary directory, e.g. /tmp/python.INFO links to it) and
    only ERROR and above (GLOG_stderrthreshold) still reach stderr; its path is returned (None on stderr)."""
    if level is not None:
        if not 0 <= int(level) < len(SEVERITIES):
            raise ValueError(f"init_log: level {level} is not a glog severity (0 INFO, 1 WARNING, 2 ERROR, 3 FATAL)")
        log.setLevel(SEVERITIES[int(level)])
    if stderr is None:
        stderr = os.environ.get("GLOG_logtostderr", "").strip().lower() in ("1", "true", "yes")
    if _handler.file is not None:
        _handler.file.close()
        _handler.file = None
    if not stderr:
        _handler.stderr_threshold = SEVERITIES[_env_int("GLOG_stderrthreshold", 2)]
        _handler.file = _open_log_file()
        return _handler.file.name
    return None


def log_info(message):
    """pycaffe's ``caffe.log(msg)``: one INFO line, naming the caller's file and line."""
    log.info("%s", message, stacklevel=2)


_install()
