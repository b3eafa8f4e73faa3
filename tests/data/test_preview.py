"""``bootvid data preview``: what a config feeds the trainer, as mp4s, PNGs and a grid."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("PIL")
pytest.importorskip("av")
from PIL import Image  # noqa: E402

from bootvid.cli.main import main  # noqa: E402
from bootvid.data import probe_video  # noqa: E402


def test_preview_writes_each_item_and_a_labelled_grid(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for k in range(2):
        Image.new("RGB", (96, 80), (40 + 100 * k, 90, 200 - 80 * k)).save(photos / f"{k}.png")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {preset: fast}\n"
                   "data:\n  frames: 9\n  size: 16\n  image_ratio: 0.3\n  sources:\n"
                   f"  - {{kind: stills, path: {photos}, weight: 1}}\n"
                   "  - {kind: synthetic, weight: 1}\n")
    out = tmp_path / "preview"
    assert main(["data", "preview", "--config", str(cfg), "--out", str(out),
                 "--items", "6", "--columns", "5"]) == 0
    text = capsys.readouterr().out
    assert "MixedDataset(stills (photos) 0.50, synthetic 0.50; image_ratio=0.3" in text
    files = sorted(os.listdir(out))
    clips = [f for f in files if f.endswith(".mp4")]
    images = [f for f in files if f.startswith("item_") and f.endswith(".png")]
    assert "grid.png" in files and len(clips) + len(images) == 6 and images and clips
    assert probe_video(str(out / clips[0])).frames == 9
    assert Image.open(out / images[0]).size == (16, 16)
    grid = Image.open(out / "grid.png")
    # 6 rows of 96-pixel cells (16 px upscaled 6x) with label strips, 5 columns
    assert grid.size == (5 * 98 - 2, 6 * (14 + 96 + 2))


def test_preview_errors_are_clear(tmp_path, capsys):
    assert main(["data", "preview", "--preset", "fast", "--out", str(tmp_path / "p"),
                 "--items", "0"]) == 2
    assert "--items must be >= 1" in capsys.readouterr().err
    assert main(["data", "preview", "--preset", "fast", "--data", str(tmp_path / "none"),
                 "--out", str(tmp_path / "p")]) == 2
    assert "does not exist" in capsys.readouterr().err
