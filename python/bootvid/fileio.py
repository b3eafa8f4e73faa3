"""Atomic file writes: what every file bootvid writes goes through, so that a crash, a kill or a
full disk mid-write never leaves a half-written file under the real name (the previous file,
if any, stays)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable


def new_file_mode() -> int:
    """The mode ``open()`` gives a new file: 0666 less the process umask (``mkstemp`` would
    give 0600 and make every written file private)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: str | os.PathLike, write: Callable[[str], object], suffix: str = ".tmp") -> str:
    """Call ``write(tmp_path)`` on a hidden temporary file next to ``path``, fsync it and rename
    it onto ``path``; on any error (or interrupt) the temporary file is removed and ``path`` is
    untouched. ``suffix`` ends the temporary name (writers that pick a format from the
    extension need it, e.g. ``".tmp.png"``). Returns ``path``."""
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=suffix, dir=directory)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> str:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    return atomic_write(path, write)


__all__ = ["atomic_write", "atomic_write_text", "new_file_mode"]
