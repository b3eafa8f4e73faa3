"""A config names inputs only: whatever it holds, bootvid writes nothing outside the output
directory given on the command line (not next to the data, not in the current directory, not
in $HOME or $TMPDIR), and the input paths it names are resolved and checked before anything
runs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("av")


def _snapshot(root) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            st = os.stat(p)
            out[os.path.relpath(p, root)] = (st.st_size, st.st_mtime_ns)
    return out


def _bootvid(sandbox, *args, cwd=None):
    env = dict(os.environ, HOME=str(sandbox / "home"), TMPDIR=str(sandbox / "tmp"),
               XDG_CACHE_HOME=str(sandbox / "home" / ".cache"),
               MPLCONFIGDIR=str(sandbox / "home" / ".mpl"), PYTHONDONTWRITEBYTECODE="1")
    r = subprocess.run([sys.executable, "-c", "import sys; from bootvid.cli.main import main; "
                        "sys.exit(main(sys.argv[1:]))", *args], cwd=cwd or sandbox, env=env,
                       capture_output=True, text=True, timeout=600)
    return r


@pytest.fixture()
def sandbox(tmp_path):
    from helpers import moving_frames

    from bootvid.data import write_video

    for sub in ("data/a", "data/b", "home", "tmp", "configs"):
        os.makedirs(tmp_path / sub)
    for i, sub in enumerate(("a", "b")):
        write_video(tmp_path / "data" / sub / f"clip{i}.mp4", moving_frames(12, 24, 32, seed=i),
                    12)
    return tmp_path


def _new_or_changed(before, after, allowed: tuple[str, ...]) -> list[str]:
    return sorted(p for p, v in after.items()
                  if before.get(p) != v and not p.startswith(allowed))


def test_training_writes_only_under_out(sandbox):
    (sandbox / "configs" / "t.yaml").write_text(
        "data: {path: data, frames: 5, size: 16, num_workers: 0}\n"
        "run: {max_steps: 2, batch_size: 1, checkpoint_every: 1, preview_every: 1, "
        "log_every: 1}\n")
    before = _snapshot(sandbox)
    r = _bootvid(sandbox, "train", "--config", "configs/t.yaml", "--out", "runs/t",
                 "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    new = _new_or_changed(before, _snapshot(sandbox), ("runs/t/",))
    assert not new, new
    # The saved config names the data by its absolute path: --resume works from anywhere.
    saved = (sandbox / "runs" / "t" / "train_config.yaml").read_text()
    assert f"path: {sandbox / 'data'}" in saved
    # ... and from another directory, still writing only under --out.
    before = _snapshot(sandbox)
    r = _bootvid(sandbox, "train", "--resume", "--out", str(sandbox / "runs" / "t"),
                 "--max-steps", "3", "--no-progress", cwd=sandbox / "home")
    assert r.returncode == 0, r.stderr[-3000:]
    new = _new_or_changed(before, _snapshot(sandbox), ("runs/t/",))
    assert not new, new


def test_latents_and_dit_training_write_only_under_out(sandbox):
    before = _snapshot(sandbox)
    r = _bootvid(sandbox, "latents", "--data", "data", "--out", "out/cache", "--clip-frames",
                 "5", "--size", "16", "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    (sandbox / "configs" / "d.yaml").write_text(
        "model: {preset: test}\ndata: {latents: out/cache}\n"
        "run: {max_steps: 2, batch_size: 2, checkpoint_every: 1}\n")
    r = _bootvid(sandbox, "dit", "train", "--config", "configs/d.yaml", "--out", "out/dit",
                 "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    new = _new_or_changed(before, _snapshot(sandbox), ("out/cache/", "out/dit/", "configs/d"))
    assert not new, new


@pytest.mark.parametrize("command,yaml,message", [
    ("train", "run: {out_dir: /tmp/elsewhere}\n", "unknown key(s) ['run.out_dir']"),
    ("train", "run: {log_dir: ../../x}\n", "unknown key(s) ['run.log_dir']"),
    ("train", "data: {path: nowhere/videos}\n",
     "data.path: 'nowhere/videos' does not exist (relative paths are taken from the current "
     "directory"),
    ("train", "data: {path: [data/a, data/missing.mp4]}\n",
     "data.path: 'data/missing.mp4' does not exist"),
    ("train", "model: {init_from: ../models/none}\n", "model.init_from: '../models/none' does "
     "not exist"),
    ("train", "loss: {perceptual: 0.1, lpips_path: ~/no-lpips.pth}\n",
     "loss.lpips_path: '~/no-lpips.pth' does not exist"),
    ("dit train", "data: {latents: /no/cache}\n", "data.latents: '/no/cache' does not exist"),
    ("dit train", "run: {checkpoint_dir: /tmp/x}\n", "unknown key(s) ['run.checkpoint_dir']"),
])
def test_config_paths_are_checked_before_anything_runs(sandbox, capsys, monkeypatch, command,
                                                       yaml, message):
    from bootvid.cli.main import main

    monkeypatch.chdir(sandbox)
    (sandbox / "configs" / "c.yaml").write_text(yaml)
    before = _snapshot(sandbox)
    argv = command.split() + ["--config", "configs/c.yaml", "--out", "runs/c"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("bootvid: error: ") and message in err, err
    assert _snapshot(sandbox) == before  # nothing written, no run directory


def test_which_config_paths_are_checked(tmp_path, monkeypatch):
    """Only the inputs a run reads must exist: init_from for a new run (a resumed one starts
    from its checkpoint), the LPIPS files with a perceptual loss. A local folder wins over a
    shipped model of the same name, as when loading."""
    from bootvid.train import ConfigPathError, TrainConfig

    monkeypatch.chdir(tmp_path)
    cfg = TrainConfig.from_dict({"model": {"init_from": "gone"},
                                 "loss": {"perceptual": 0.0, "lpips_path": "no.pth"}})
    with pytest.raises(ConfigPathError, match="model.init_from: 'gone' does not exist"):
        cfg.with_resolved_paths()
    resumed = cfg.with_resolved_paths(resume=True)
    assert resumed.model.init_from == str(tmp_path / "gone")  # absolute, not checked
    assert resumed.loss.lpips_path == str(tmp_path / "no.pth")
    with pytest.raises(ConfigPathError, match="loss.lpips_path: 'no.pth' does not exist"):
        cfg.merged({"loss.perceptual": 0.1, "model.init_from": None}).with_resolved_paths()
    from bootvid.pretrained import DEFAULT_MODEL

    shipped = TrainConfig.from_dict({"model": {"init_from": DEFAULT_MODEL}})
    assert shipped.with_resolved_paths().model.init_from == DEFAULT_MODEL
    os.makedirs(tmp_path / DEFAULT_MODEL)
    assert shipped.with_resolved_paths().model.init_from == str(tmp_path / DEFAULT_MODEL)
