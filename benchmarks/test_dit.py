"""DiT benchmarks: a training step and a sampling step on 4x vs 16x temporal latents of the same
clip (the token budget a 16x tokenizer saves a diffusion model).

Latents are those of the shipped tokenizers' shape rule (16 channels, 8x spatial,
``1 + (frames - 1) / tc`` latent frames) for one clip of ``FRAMES`` frames at ``SIZE`` x
``SIZE``; the DiT is the same preset for both. ``extra_info``: suite, tc, latent_shape, tokens,
batch, frames, seconds of video per step (at 24 fps), device, dtype, threads; the 16x rows add
``speedup_vs_4x`` (median 4x / median 16x in this run; target >= 3x). ``BOOTVID_BENCH_QUICK=1``:
the test preset on 33 frames at 64x64. Run: ``pytest benchmarks/test_dit.py
--benchmark-json=dit.json``.
"""

from __future__ import annotations

import os

import pytest
import torch

from bench_common import median_s
from bootvid.diffusion import DiT, dit_config
from bootvid.diffusion.flow import flow_loss, sample

QUICK = os.environ.get("BOOTVID_BENCH_QUICK", "").strip().lower() in {"1", "true", "yes", "on"}
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
if DEVICE == "cuda":
    PRESET, FRAMES, SIZE, BATCH = "small", 129, 256, 4
elif QUICK:
    PRESET, FRAMES, SIZE, BATCH = "test", 33, 64, 2
else:
    PRESET, FRAMES, SIZE, BATCH = "tiny", 65, 128, 4
FPS = 24.0
_medians: dict[tuple[str, int], float] = {}


def _latent(tc: int) -> tuple[int, int, int, int]:
    return (16, 1 + (FRAMES - 1) // tc, SIZE // 8, SIZE // 8)


def _model() -> DiT:
    torch.manual_seed(0)
    dit = DiT(dit_config(PRESET, in_channels=16)).to(DEVICE)
    with torch.no_grad():  # away from adaLN-Zero's identity init: every block computes
        for p in dit.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return dit


def _autocast():
    return torch.autocast(DEVICE, dtype=torch.bfloat16, enabled=DEVICE == "cuda")


def _sync():
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def _record(benchmark, what: str, tc: int) -> None:
    C, t, h, w = _latent(tc)
    med = median_s(benchmark)
    if med is None:  # --benchmark-disable: the case ran once, untimed
        return
    _medians[(what, tc)] = med
    info = dict(suite="dit", what=what, preset=PRESET, tc=tc, latent_shape=[C, t, h, w],
                tokens=t * (h // 2) * (w // 2), batch=BATCH, frames=FRAMES, size=SIZE,
                video_seconds_per_step=round(BATCH * FRAMES / FPS, 3), device=DEVICE,
                dtype="bf16" if DEVICE == "cuda" else "fp32", threads=torch.get_num_threads(),
                shape=[BATCH, C, t, h, w], quick=QUICK)
    if tc != 4 and (what, 4) in _medians:
        info["speedup_vs_4x"] = round(_medians[(what, 4)] / med, 3)
    benchmark.extra_info.update(info)


@pytest.mark.parametrize("tc", [4, 16])
def test_train_step(benchmark, tc):
    dit = _model().train()
    opt = torch.optim.AdamW(dit.parameters(), lr=1e-4)
    z = torch.randn(BATCH, *_latent(tc), device=DEVICE)
    noise = torch.randn_like(z)
    t = torch.rand(BATCH, device=DEVICE)

    def step():
        with _autocast():
            loss = flow_loss(dit, z, noise, t)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        _sync()

    benchmark.group = f"dit/train_step/{PRESET}"
    benchmark.pedantic(step, rounds=3 if QUICK else 5, iterations=1, warmup_rounds=1)
    _record(benchmark, "train_step", tc)


@pytest.mark.parametrize("tc", [4, 16])
def test_sampling_step(benchmark, tc):
    dit = _model().eval()
    noise = torch.randn(BATCH, *_latent(tc), device=DEVICE)

    def one_step():
        with _autocast():
            sample(dit, noise, steps=1)
        _sync()

    benchmark.group = f"dit/sampling_step/{PRESET}"
    benchmark.pedantic(one_step, rounds=3 if QUICK else 5, iterations=1, warmup_rounds=1)
    _record(benchmark, "sampling_step", tc)
