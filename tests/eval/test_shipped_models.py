"""The shipped tokenizers (checkpoints/): they load, stay within the size budget, reproduce the
figures of their model card, and are the command line's default model."""

from __future__ import annotations

import json
import os

import pytest
import torch

from bootvid import pretrained

_REPO_CHECKPOINTS = os.path.join(os.path.dirname(__file__), "..", "..", "checkpoints")


def test_checkpoints_are_installed_with_the_package():
    """From a checkout that has checkpoints/, bootvid (installed or not) finds them: `pip
    install .` copies them into the package (CMakeLists.txt)."""
    if not os.path.isdir(_REPO_CHECKPOINTS):
        pytest.skip("no checkpoints/ in this checkout")
    root = pretrained.checkpoints_root()
    assert root is not None
    # checkpoints/wip/ (weights a long training continues from) is not shipped
    shipped = sorted(n for n in os.listdir(_REPO_CHECKPOINTS) if n != "wip")
    assert sorted(n for n in os.listdir(root) if n != "wip") == shipped
    if os.path.realpath(root) != os.path.realpath(_REPO_CHECKPOINTS):  # the installed copy
        assert "wip" not in os.listdir(root)


pytestmark = pytest.mark.skipif(pretrained.checkpoints_root() is None and not os.path.isdir(
    _REPO_CHECKPOINTS), reason="no shipped checkpoints in this checkout")

SIZE_BUDGET_MB = 40.0


def _eval_json() -> dict:
    with open(os.path.join(pretrained.checkpoints_root(), "eval.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def shipped():
    return {name: pretrained.load_pretrained(name) for name in pretrained.SHIPPED}


def test_family_loads_within_budget(shipped):
    from bootvid.growth import GrownTokenizer
    from bootvid.tokenizer.persistence import model_fingerprint

    root = pretrained.checkpoints_root()
    total = sum(os.path.getsize(os.path.join(dp, f))  # wip/ (in a checkout) is not shipped
                for dp, _, files in os.walk(root) for f in files
                if os.path.relpath(dp, root).split(os.sep)[0] != "wip")
    assert total > 1e6
    assert total / 1e6 <= SIZE_BUDGET_MB
    assert [shipped[n].temporal_compression for n in pretrained.SHIPPED] == [4, 8, 16]
    assert all(next(t.parameters()).dtype == torch.float32 for t in shipped.values())
    four, eight, sixteen = pretrained.SHIPPED
    t8, t16 = shipped[eight], shipped[sixteen]
    assert isinstance(t16, GrownTokenizer) and isinstance(t8, GrownTokenizer)
    # 16x is grown on exactly the shipped 8x, which is grown on the shipped 4x.
    assert model_fingerprint(t16.lower) == model_fingerprint(t8)
    assert model_fingerprint(t8.lower) == model_fingerprint(shipped[four])
    saved = _eval_json()["models"]
    assert {n: model_fingerprint(t) for n, t in shipped.items()} == {
        n: saved[n]["fingerprint"] for n in pretrained.SHIPPED}


def test_reproduces_the_model_card_on_the_demo_clip(shipped):
    """The figures checkpoints/README.md reports for the synthetic clip, within 0.05 dB (the
    held-out figures need the project's videos: scripts/export_checkpoints.py --check)."""
    from bootvid.cli.demo_models import demo_clip
    from bootvid.eval.metrics import psnr
    from bootvid.eval.protocol import reconstruct_frames

    ref, _, _ = demo_clip(33, 128)
    saved = _eval_json()["models"]
    for name, tok in shipped.items():
        got = psnr(ref, reconstruct_frames(tok, ref))
        assert abs(got - saved[name]["synthetic"]["psnr"]) <= 0.05, name
    # They are trained: far better than a random-weight tokenizer on the same clip.
    from bootvid.tokenizer import TokenizerConfig, VideoTokenizer

    torch.manual_seed(0)
    random = psnr(ref, reconstruct_frames(VideoTokenizer(TokenizerConfig.preset("tiny")), ref))
    assert min(s["synthetic"]["psnr"] for s in saved.values()) > random + 3


def test_unknown_name_is_a_clear_error():
    with pytest.raises(ValueError,
                       match=f"no shipped model named 'tiny-32x'.*{pretrained.SHIPPED[0]}"):
        pretrained.pretrained_dir("tiny-32x")


def test_cli_uses_the_shipped_model_when_model_is_omitted(video_file, tmp_path, capsys):
    from bootvid.cli.main import main

    src = video_file(9, 32, 48)
    out = tmp_path / "rec.mp4"
    assert main(["reconstruct", src, str(out), "--no-progress"]) == 0
    default, _, sixteen = pretrained.SHIPPED
    assert default == pretrained.DEFAULT_MODEL
    assert f"shipped model {default} (the default: no --model given)" in capsys.readouterr().out
    assert out.exists()
    # encode with a named shipped model; decode finds it from the latents' fingerprint.
    lat = tmp_path / "z.safetensors"
    assert main(["encode", "--model", sixteen, src, str(lat), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["decode", str(lat), str(tmp_path / "dec.mp4"), "--no-progress"]) == 0
    assert f"shipped model {sixteen}" in capsys.readouterr().out
    # the lowest model of the chain is found too, and decodes as --model DEFAULT does.
    lat4 = tmp_path / "z4.safetensors"
    assert main(["encode", src, str(lat4), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["decode", str(lat4), str(tmp_path / "d4.mp4"), "--no-progress",
                 "--codec", "ffv1"]) == 0
    assert f"shipped model {default}" in capsys.readouterr().out
    assert main(["decode", str(lat4), str(tmp_path / "d4m.mp4"), "--no-progress", "--model",
                 default, "--codec", "ffv1"]) == 0
    from bootvid.data import read_frames

    assert torch.equal(read_frames(tmp_path / "d4.mp4", 0, 9), read_frames(tmp_path / "d4m.mp4", 0, 9))
    # latents of a model that is not shipped: decode asks for --model.
    from bootvid.tokenizer import TokenizerConfig, VideoTokenizer

    torch.manual_seed(3)
    own = tmp_path / "own"
    VideoTokenizer(TokenizerConfig.preset("tiny", base_channels=16, norm_groups=4)).save_pretrained(own)
    lat2 = tmp_path / "z2.safetensors"
    assert main(["encode", "--model", str(own), src, str(lat2), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["decode", str(lat2), str(tmp_path / "x.mp4")]) == 2
    assert "was not encoded by a shipped model" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()
