"""The ``bootvid`` command: the demo runs end to end and bad arguments are clear errors."""

from __future__ import annotations

import re

from bootvid.cli.main import main


def test_demo_runs_ops_and_tokenizer(capsys):
    assert main(["demo", "--ops", "--frames", "5", "--size", "16", "--channels", "32"]) == 0
    out = capsys.readouterr().out
    assert "bootvid ops demo" in out and "bootvid tokenizer demo" in out
    # The ops pipeline: kernels agree with the reference twins.
    err = float(re.search(r"max \|kernels - reference\| = ([0-9.e+-]+)", out).group(1))
    assert err < 1e-4
    # The tokenizer: the frame-count rule and streamed == whole.
    assert "1->1, 2->2, 5->2, 9->3, 16->5, 17->5, 33->9" in out
    m = re.search(r"latent ([0-9.e+-]+), video ([0-9.e+-]+)", out)
    assert float(m.group(1)) <= 1e-5 and float(m.group(2)) <= 1e-5


def test_demo_bad_arguments_are_clear_errors(capsys):
    assert main(["demo", "--ops", "--frames", "4"]) == 2
    assert "--frames must be 1 + 2k" in capsys.readouterr().err


def test_demo_main_job_table_and_files(tmp_path, capsys):
    from bootvid import pretrained

    if pretrained.checkpoints_root() is None:
        import pytest

        pytest.skip("the shipped checkpoints are not installed")
    pytest_av = __import__("importlib").util.find_spec("av")
    assert main(["demo", "--out", str(tmp_path), "--frames", "17", "--size", "32"]) == 0
    out = capsys.readouterr().out
    rows = {m: re.search(rf"^{m}\s+(\d+)x8x8\s+\((\d+),(\d+),(\d+),(\d+)\)\s+(\d+)\s+([0-9.]+)",
                         out, re.M) for m in pretrained.SHIPPED}
    assert all(rows.values()), out
    # 17 frames: 1 + 16/tc latent frames; tokens per second fall with the compression.
    assert [int(rows[m].group(3)) for m in pretrained.SHIPPED] == [5, 3, 2]
    tokens = [int(rows[m].group(6)) for m in pretrained.SHIPPED]
    assert tokens[0] == 2 * tokens[1] == 4 * tokens[2]
    assert (tmp_path / "comparison.png").stat().st_size > 0
    assert (tmp_path / "side_by_side.mp4").exists() == (pytest_av is not None)
    import json

    res = json.loads((tmp_path / "demo.json").read_text())
    assert set(res["models"]) == set(pretrained.SHIPPED) and res["frames"] == 17
    assert all(r["psnr"] > 10 for r in res["models"].values())


def test_demo_train_runs_the_growth_stages(tmp_path, capsys):
    assert main(["demo", "--train", "--out", str(tmp_path), "--minutes", "0.2", "--size",
                 "16"]) == 0
    out = capsys.readouterr().out
    stages = re.findall(r"^(4x|8x|16x)\s+(\d+)\s+[0-9.]+\s+([0-9.]+)\s+([0-9.]+)", out, re.M)
    assert [s[0] for s in stages] == ["4x", "8x", "16x"] and all(int(s[1]) > 0 for s in stages)
    # Each stage trained and left a model (the runs are ordinary run directories).
    for name in ("4x", "8x", "16x"):
        assert (tmp_path / "train" / name / "model_ema" / "config.json").exists()
    # Fresh output only: a second run into the same folder is refused before any training.
    assert main(["demo", "--train", "--out", str(tmp_path), "--minutes", "0.2"]) == 2
    assert "exists" in capsys.readouterr().err
