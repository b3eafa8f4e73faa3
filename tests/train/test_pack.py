"""Packed checkpoints (`bootvid pack`): a run carried to another machine or session without
its optimizer state, continued with --resume."""

from __future__ import annotations

import os

import pytest
import torch

from bootvid.cli.main import main
from bootvid.train import Trainer
from bootvid.train.card import read_card
from bootvid.train.checkpoint import list_checkpoints, pack_run
from bootvid.train.logger import read_log

from train_helpers import FixedClips, tiny_config

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _lrs(run_dir) -> dict[int, float]:
    return {r["step"]: r["lr"] for r in read_log(str(run_dir)) if "lr" in r}


def test_pack_leaves_out_the_optimizer_and_stores_bf16_weights(tmp_path):
    run = tmp_path / "run"
    Trainer(tiny_config(**{"run.max_steps": 2}), run, dataset=FixedClips(), progress=False).run()
    (step, original), = [(s, torch.load(p, weights_only=True))
                         for s, p in list_checkpoints(str(run))[-1:]]
    step_packed, path = pack_run(str(run), str(tmp_path / "packed"))
    packed = torch.load(path, weights_only=True)

    assert step_packed == step == 2 and path.endswith("step_00000002.pt")
    assert "optimizer" not in packed and original["optimizer"] is not None
    assert packed["packed"] == {"step": 2, "dtype": "bfloat16", "dropped": ["optimizer"]}
    assert set(original) - {"optimizer", "disc_optimizer"} <= set(packed)
    for name, w in original["model"].items():
        if w.is_floating_point():
            assert packed["model"][name].dtype == torch.bfloat16
            assert torch.equal(packed["model"][name], w.to(torch.bfloat16)), name
    shadow = packed["ema"]["shadow"]
    assert all(v.dtype == torch.bfloat16 for v in shadow.values())
    assert torch.equal(packed["rng"]["torch"], original["rng"]["torch"])
    assert packed["step"] == 2 and packed["train_flops"] == original["train_flops"]
    # the run's files travel with it (not its models or previews: --resume rewrites them)
    assert sorted(os.listdir(tmp_path / "packed")) == ["checkpoints", "log.jsonl",
                                                       "train_config.yaml"]
    assert os.path.getsize(path) < 0.4 * os.path.getsize(list_checkpoints(str(run))[-1][1])


def test_pack_refuses_a_run_without_checkpoint_and_a_full_output(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        pack_run(str(tmp_path / "empty"), str(tmp_path / "out"))
    run = tmp_path / "run"
    Trainer(tiny_config(**{"run.max_steps": 2}), run, dataset=FixedClips(), progress=False).run()
    with pytest.raises(ValueError, match="another directory"):
        pack_run(str(run), str(run))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        pack_run(str(run), str(tmp_path / "full"))


def test_resume_from_a_packed_run_continues_the_schedule_with_a_rewarmed_optimizer(tmp_path):
    """The packed run reaches the full run's step count and compute, its EMA continues, and its
    learning rate is the full run's times a warmup that restarts where the pack was made; a
    normal checkpoint written during that warmup keeps it."""
    cfg = tiny_config(**{"run.max_steps": 8, "optim.warmup_steps": 4,
                         "run.checkpoint_every": 2})
    full = Trainer(cfg, tmp_path / "full", dataset=FixedClips(), progress=False).run()
    Trainer(cfg.merged({"run.max_steps": 2}), tmp_path / "part", dataset=FixedClips(),
            progress=False).run()
    pack_run(str(tmp_path / "part"), str(tmp_path / "packed"))
    packed = torch.load(list_checkpoints(str(tmp_path / "packed"))[-1][1], weights_only=True)

    t = Trainer(cfg.merged({"run.max_steps": 4}), tmp_path / "packed", resume=True,
                dataset=FixedClips(), progress=False)
    assert t.step == 2 and t.rewarm_from == 2 and t.ema.updates == packed["ema"]["updates"]
    assert not t.optimizer.state  # fresh
    for name, w in t.tok.state_dict().items():
        assert w.dtype == torch.float32 and torch.equal(w, packed["model"][name].float()), name
    t.run()  # stops at step 4, inside the re-warmup (steps 2..5)
    res = Trainer(cfg, tmp_path / "packed", resume=True, dataset=FixedClips(),
                  progress=False).run()

    assert res.step == 8
    full_lr, lr = _lrs(full.run_dir), _lrs(res.run_dir)
    # logged steps are 1-based: the optimizer step index is step - 1
    ratios = [lr[s] / full_lr[s] for s in range(3, 9)]
    assert ratios == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])
    events = [r["event"] for r in read_log(res.run_dir) if "event" in r]
    assert any("packed checkpoint (step 2" in e and "re-warmed over 4 steps" in e
               for e in events), events
    card, full_card = read_card(res.model_dir), read_card(full.model_dir)
    assert card["steps"] == 8
    assert card["train_flops"] == pytest.approx(full_card["train_flops"])


def test_pack_command(tmp_path, capsys):
    run = tmp_path / "run"
    Trainer(tiny_config(**{"run.max_steps": 2}), run, dataset=FixedClips(), progress=False).run()
    assert main(["pack", str(run), str(tmp_path / "packed"), "--dtype", "fp32"]) == 0
    out = capsys.readouterr().out
    assert "packed step 2 of" in out and "--resume --out" in out
    state = torch.load(list_checkpoints(str(tmp_path / "packed"))[-1][1], weights_only=True)
    assert state["packed"]["dtype"] == "float32"
    assert all(v.dtype == torch.float32 for v in state["model"].values()
               if v.is_floating_point())
    assert main(["pack", str(tmp_path / "nothing"), str(tmp_path / "out")]) == 2
    assert "has no checkpoint" in capsys.readouterr().err
