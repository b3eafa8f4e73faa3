"""Atomic writes: a failed write leaves the previous file intact and no temporary file behind;
written files get the normal permissions (not mkstemp's private 0600)."""

from __future__ import annotations

import os
import stat

import pytest

from bootvid.fileio import atomic_write, atomic_write_text, new_file_mode


def test_write_and_mode(tmp_path):
    p = tmp_path / "a.txt"
    assert atomic_write_text(p, "one") == str(p)
    assert p.read_text() == "one"
    assert stat.S_IMODE(os.stat(p).st_mode) == new_file_mode()
    assert new_file_mode() & 0o044  # group/other can read under the usual umask


def test_failed_write_keeps_the_previous_file(tmp_path):
    p = tmp_path / "a.txt"
    atomic_write_text(p, "old")

    def broken(tmp):
        with open(tmp, "w") as f:
            f.write("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic_write(p, broken)
    assert p.read_text() == "old"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_interrupt_during_write_keeps_the_previous_file(tmp_path):
    p = tmp_path / "a.txt"
    atomic_write_text(p, "old")

    def interrupted(tmp):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(p, interrupted)
    assert p.read_text() == "old" and os.listdir(tmp_path) == ["a.txt"]


def test_suffix_for_writers_that_read_the_extension(tmp_path):
    seen = []
    atomic_write(tmp_path / "x.png", lambda t: (seen.append(t), open(t, "wb").close()),
                 suffix=".tmp.png")
    assert seen[0].endswith(".tmp.png") and os.path.basename(seen[0]).startswith(".x.png.")
