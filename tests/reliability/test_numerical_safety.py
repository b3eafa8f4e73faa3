"""Non-finite losses or gradients: the step is skipped and logged; after run.max_bad_steps in a
row the last checkpoint is restored with a lower learning rate; NaN weights are never written."""

from __future__ import annotations

import pytest
import torch

from bootvid.train.checkpoint import list_checkpoints
from bootvid.train.logger import read_log


class Poisoned(torch.utils.data.Dataset):
    """``base`` with NaN items at ``indices``, the first ``times`` times they are read (a
    transient fault: a bad batch, an overflow)."""

    def __init__(self, base, indices, times: int, tuple_items: bool) -> None:
        self.base, self.indices, self.left, self.tuple_items = base, set(indices), times, tuple_items

    def __len__(self):
        return len(self.base)

    def __getattr__(self, name):  # latent_shape, num_classes, index, ... of the base
        return getattr(self.base, name)

    def __getitem__(self, i):
        item = self.base[i]
        if i in self.indices and self.left > 0:
            self.left -= 1
            if self.tuple_items:
                return torch.full_like(item[0], float("nan")), item[1]
            return torch.full_like(item, float("nan"))
        return item


def _dit(root, tmp_path, dataset, **run):
    from bootvid.diffusion import DiTTrainConfig, DiTTrainer

    cfg = DiTTrainConfig().merged({
        "model.preset": "test", "data.latents": root, "run.batch_size": 1, "run.device": "cpu",
        "run.log_every": 1, "run.checkpoint_every": 2, "run.max_bad_steps": 2,
        "optim.warmup_steps": 1, **{f"run.{k}": v for k, v in run.items()}})
    return DiTTrainer(cfg, tmp_path / "run", dataset=dataset, progress=False)


def _all_finite(state: dict) -> bool:
    return all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def _cache(tmp_path, n=8):
    from dit_helpers import make_cache, structured_latents

    from bootvid.diffusion import LatentDataset

    return LatentDataset(make_cache(tmp_path / "cache", structured_latents(n)))


def test_transient_nan_restores_the_checkpoint_and_lowers_the_lr(tmp_path):
    from bootvid.diffusion import DiT

    base = _cache(tmp_path)
    # batch 1: step k reads index k; indices 4 and 5 are NaN once
    t = _dit(base.root, tmp_path, Poisoned(base, {4, 5}, times=2, tuple_items=True), max_steps=8)
    r = t.run()
    assert r.step == 8 and r.stopped == "max_steps"
    log = read_log(r.run_dir)
    events = [e["event"] for e in log if "event" in e]
    assert sum("non-finite gradient" in e for e in events) == 2
    assert any("restored the checkpoint of step 4, learning rate x0.5 (restore 1 of 3)" in e
               for e in events)
    state = torch.load(list_checkpoints(r.run_dir)[-1][1], weights_only=True)
    assert state["lr_scale"] == 0.5 and state["recoveries"] == 1
    assert _all_finite(state["model"]) and _all_finite(DiT.from_pretrained(r.model_dir).state_dict())
    # the replayed steps 5.. ran at half the scheduled rate
    lrs = {e["step"]: e["lr"] for e in log if "lr" in e}
    assert lrs[4] > 0 and lrs[6] == pytest.approx(0.5 * t.config.optim.lr
                                                  * _factor(t.config, 5), rel=1e-6)


def _factor(cfg, step):
    from bootvid.train.schedule import lr_factor

    o, r = cfg.optim, cfg.run
    return lr_factor(step, o.warmup_steps, r.max_steps, o.min_lr_ratio)


def test_persistent_nan_gives_up_after_the_restores_and_keeps_checkpoints(tmp_path):
    base = _cache(tmp_path)
    t = _dit(base.root, tmp_path, Poisoned(base, range(3, 10**6), times=10**6, tuple_items=True),
             max_steps=20, max_recoveries=2)
    with pytest.raises(FloatingPointError, match=r"2 restores \(run.max_recoveries\) did not help"):
        t.run()
    saved = list_checkpoints(str(tmp_path / "run"))
    assert [s for s, _ in saved] and all(
        _all_finite(torch.load(p, weights_only=True)["model"]) for _, p in saved)


def test_tokenizer_trainer_restores_too(tmp_path):
    from train_helpers import FixedClips, tiny_config

    from bootvid.train import Trainer

    cfg = tiny_config(**{"run.max_steps": 6, "run.max_bad_steps": 1, "run.batch_size": 1})
    r = Trainer(cfg, tmp_path, dataset=Poisoned(FixedClips(), {2}, times=1, tuple_items=False),
                progress=False).run()
    assert r.step == 6
    state = torch.load(list_checkpoints(str(tmp_path))[-1][1], weights_only=True)
    assert state["lr_scale"] == 0.5 and _all_finite(state["model"])


def test_fp16_overflow_is_an_error_not_black_frames():
    """Peer VAEs decode black frames in fp16 when activations overflow 65504. bootvid's fp16
    decode matches fp32 at normal scale, stays finite far outside it (the norms accumulate in
    fp32), and where it does overflow it raises instead of returning NaN frames."""
    from bootvid.tokenizer import TokenizerConfig, VideoTokenizer

    torch.manual_seed(0)
    tok = VideoTokenizer(TokenizerConfig.preset("tiny", base_channels=16, norm_groups=4)).eval()
    z = torch.randn(1, 16, 2, 3, 3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = tok.decode(z)
        half = tok.half()
        torch.testing.assert_close(half.decode(z.half()).float(), ref, rtol=0, atol=3e-2)
        assert torch.isfinite(half.decode((z * 100).half())).all()
        for chunk in (None, 1):
            with pytest.raises(FloatingPointError, match="float16 overflow .* black frames"):
                half.decode((z * 1e4).half(), chunk_latents=chunk)


def test_fp16_encode_overflow_is_an_error_not_nan_latents():
    """The encoder's inputs are bounded, but a model whose activations overflow float16 (here:
    its first conv scaled 10^5) would return NaN latents; encoding raises instead, whole-clip
    and streamed. At normal scale fp16 encoding matches fp32."""
    from bootvid.tokenizer import TokenizerConfig, VideoTokenizer

    torch.manual_seed(0)
    tok = VideoTokenizer(TokenizerConfig.preset("tiny", base_channels=16, norm_groups=4)).eval()
    x = torch.rand(1, 3, 5, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        ref = tok.encode(x).mean
        half = tok.half()
        torch.testing.assert_close(half.encode(x.half()).mean.float(), ref, rtol=0, atol=3e-2)
        first = next(m for m in half.encoder.modules() if isinstance(getattr(m, "weight", None),
                                                                    torch.Tensor)
                     and m.weight.dim() == 5)
        first.weight.mul_(1e5)
        for chunk in (None, 4):
            with pytest.raises(FloatingPointError,
                               match=r"encode: float16 overflow \(non-finite latents\)"):
                half.encode(x.half(), chunk_frames=chunk)
