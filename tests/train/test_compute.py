"""Training compute: FLOPs counted per item, per step and across runs (model cards)."""

from __future__ import annotations

import json
import os

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from bootvid import ops
from bootvid.data import MixedDataset, SyntheticVideoDataset
from bootvid.growth import grow
from bootvid.tokenizer import VideoTokenizer
from bootvid.train import Trainer
from bootvid.train.card import CARD_NAME, read_card
from bootvid.train.checkpoint import list_checkpoints
from bootvid.train.flops import FlopCounter, format_flops, item_training_flops

from train_helpers import FixedClips, tiny_config

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

MIXED = {"data.sources": [{"kind": "synthetic", "weight": 1}, {"kind": "synthetic",
                                                                 "weight": 2}],
         "data.image_ratio": 0.4, "data.frames": 9, "run.batch_size": 3}


def _tok():
    torch.manual_seed(0)
    return VideoTokenizer(tiny_config().tokenizer_config()).train()


def _counted_batch(tok, x) -> float:
    """FLOPs of a real forward + backward of a batch (what a training step does)."""
    with ops.use_reference(), FlopCounterMode(display=False) as c:
        post = tok.encode(x)
        recon = tok.decode(post.mean + post.std * torch.randn_like(post.std), x.shape[2])
        ((recon - x).abs().mean() + post.kl().mean()).backward()
    return float(c.get_total_flops())


def test_an_item_count_is_one_item_of_a_real_training_pass():
    tok = _tok()
    per_item = item_training_flops(tok, 9, 16)
    assert per_item > 1e7
    x = torch.rand(3, 3, 9, 16, 16) * 2 - 1
    assert _counted_batch(tok, x) == pytest.approx(3 * per_item, rel=1e-3)
    # images cost a fraction of a clip
    assert item_training_flops(tok, 1, 16) < 0.5 * per_item


def test_counting_leaves_the_model_alone():
    tok = _tok()
    before = {k: v.clone() for k, v in tok.state_dict().items()}
    counter = FlopCounter(tok, 16)
    assert counter.items([9, 1, 9]) == pytest.approx(2 * counter.item(9) + counter.item(1))
    assert all(p.grad is None for p in tok.parameters())
    assert all(torch.equal(before[k], v) for k, v in tok.state_dict().items())
    assert next(tok.parameters()).device.type == "cpu"


def test_frozen_stages_count_their_forward_not_their_weight_gradients():
    lower = _tok()
    grown = grow(lower, 2)
    full = item_training_flops(grown, 9, 16)
    grown.requires_grad_(True)  # the same model with everything trainable: more backward work
    everything = item_training_flops(grown, 9, 16)
    assert full < everything
    # still more than the lower model alone: its forward runs inside the grown one
    assert full > item_training_flops(lower, 9, 16) / 3


def test_a_run_counts_its_items_by_length(tmp_path):
    cfg = tiny_config(**MIXED, **{"run.max_steps": 3})
    t = Trainer(cfg, tmp_path / "run", progress=False)
    res = t.run()
    counter = FlopCounter(t.tok, 16)
    frames = [t.dataset.item_frames(i) for i in range(9)]
    assert sorted(set(frames)) == [1, 9]  # the mix has images and clips
    expected = counter.items(frames)
    card = read_card(res.ema_dir)
    assert card["train_flops"] == pytest.approx(expected)
    assert card["cumulative"] == {"steps": 3, "train_seconds": card["train_seconds"],
                                  "train_flops": card["train_flops"]}
    assert card["parent"] is None and card["source"] == "trained from scratch"
    assert "MixedDataset" in card["data"]
    assert read_card(res.model_dir) == card
    with open(tmp_path / "run" / "model" / CARD_NAME, encoding="utf-8") as f:
        assert json.load(f) == card


def test_mixed_dataset_knows_each_items_length_without_reading_it():
    clips = SyntheticVideoDataset(frames=9, size=16)
    mix = MixedDataset([clips], image_ratio=0.3)
    assert all(mix.item_frames(i) == mix[i].shape[1] for i in range(12))
    assert clips.item_frames(5) == 9


def test_resume_keeps_the_count_and_old_checkpoints_are_recounted(tmp_path):
    cfg = tiny_config(**MIXED, **{"run.max_steps": 4})
    full = Trainer(cfg, tmp_path / "full", progress=False).run()
    Trainer(cfg.merged({"run.max_steps": 2}), tmp_path / "part", progress=False).run()
    resumed = Trainer(cfg, tmp_path / "part", resume=True, progress=False).run()
    want = read_card(full.model_dir)["train_flops"]
    assert read_card(resumed.model_dir)["train_flops"] == pytest.approx(want)
    # a checkpoint from before FLOPs were counted: recounted from its steps' items
    Trainer(cfg.merged({"run.max_steps": 2}), tmp_path / "old", progress=False).run()
    path = list_checkpoints(str(tmp_path / "old"))[-1][1]
    state = torch.load(path, weights_only=True)
    del state["train_flops"], state["lineage"]
    torch.save(state, path)
    old = Trainer(cfg, tmp_path / "old", resume=True, progress=False).run()
    assert read_card(old.model_dir)["train_flops"] == pytest.approx(want)


def test_cards_add_up_over_continued_and_grown_runs(tmp_path):
    base = Trainer(tiny_config(**{"run.max_steps": 3}), tmp_path / "a", dataset=FixedClips(),
                   progress=False).run()
    a = read_card(base.ema_dir)
    # continued from the saved model (fresh optimizer): totals add up, the parent is kept
    cont = Trainer(tiny_config(**{"run.max_steps": 2, "model.init_from": str(tmp_path / "a")}),
                   tmp_path / "b", dataset=FixedClips(), progress=False).run()
    b = read_card(cont.ema_dir)
    assert b["steps"] == 2 and b["cumulative"]["steps"] == 5
    assert b["cumulative"]["train_flops"] == pytest.approx(a["train_flops"] + b["train_flops"])
    assert b["parent"] == a and b["source"].startswith("initialised from")
    # grown from the continued model: its frozen base's cost is part of the total
    grown = Trainer(tiny_config(**{"data.frames": 9, "run.max_steps": 2}), tmp_path / "c",
                    grow_from=tmp_path / "b", dataset=FixedClips(frames=9), progress=False)
    c = read_card(grown.run().ema_dir)
    assert c["cumulative"]["steps"] == 7 and c["parent"]["parent"] == a
    assert c["config"]["temporal_compression"] == 8 and c["cumulative_complete"]
    # resumed, a grown run still knows its parent
    again = Trainer(tiny_config(**{"data.frames": 9, "run.max_steps": 3}), tmp_path / "c",
                    resume=True, dataset=FixedClips(frames=9), progress=False).run()
    assert read_card(again.ema_dir)["cumulative"]["steps"] == 8
    # a parent saved without a card: the total says it is incomplete
    os.unlink(os.path.join(base.ema_dir, CARD_NAME))
    d = Trainer(tiny_config(**{"run.max_steps": 1, "model.init_from": str(tmp_path / "a")}),
                tmp_path / "d", dataset=FixedClips(), progress=False).run()
    assert read_card(d.ema_dir)["parent"] is None
    assert read_card(d.ema_dir)["source"].startswith("initialised from")
    assert not read_card(d.ema_dir)["cumulative_complete"]


@pytest.mark.parametrize("flops, text", [(3.2e15, "3.20 PFLOP"), (5e11, "500.00 GFLOP"),
                                          (1.5e18, "1.50 EFLOP"), (12.0, "12 FLOP")])
def test_format_flops(flops, text):
    assert format_flops(flops) == text
