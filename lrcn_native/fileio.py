"""Atomic file writing: every file this package writes (weights, solver states, run states, plots, scores,
results) appears under its real name complete or not at all, so a killed run never leaves half a file."""
import contextlib
import os
import secrets


def atomic_write(path, write):
    """Calls ``write(tmp)`` for a hidden temporary path beside ``path`` (``.<name>.<hex>.tmp``), then renames
    it over ``path``; on any error or interrupt the temporary is removed. ``write`` must create ``tmp``
    itself (``open(tmp, "x")``, ``h5py.File(tmp, "w")``, a file object for numpy or matplotlib)."""
    path = os.fspath(path)
    folder, base = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".{base}.{secrets.token_hex(4)}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path, text):
    def write(tmp):
        with open(tmp, "x", encoding="utf-8") as f:
            f.write(text)
    atomic_write(path, write)
