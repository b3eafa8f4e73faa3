"""Growth benchmarks (pytest-benchmark), CPU: encode and decode throughput of the 4x tokenizer,
the 8x and 16x tokenizers grown on it (ProMAG), and the direct 8x / 16x baselines (more
temporal downsampling, from scratch), all from one preset on a 33x128x128 clip; with the latent
size each gives per second of video (the token budget a diffusion model pays).

``extra_info``: model, op, tc (temporal compression), frames_per_s, latent_shape,
latent_tokens (T' * H' * W' of the clip), latent_tokens_per_video_s (at 24 fps).
``BOOTVID_BENCH_QUICK=1``: 33x64x64, one round. Run:
``pytest benchmarks/test_growth.py --benchmark-json=growth.json && python -m benchmarks.report growth.json``.
"""

from __future__ import annotations

import os

import pytest
import torch

from bootvid import grow
from bootvid.tokenizer import TokenizerConfig, VideoTokenizer, synthetic_video

QUICK = os.environ.get("BOOTVID_BENCH_QUICK", "").strip().lower() in {"1", "true", "yes", "on"}
PRESET = "tiny"
FRAMES, SIZE = 33, (64 if QUICK else 128)
ROUNDS = 1 if QUICK else 3
VIDEO_FPS = 24  # for "latent tokens per second of video"
MODELS = ["4x", "grown-8x", "grown-16x", "direct-8x", "direct-16x"]
_models: dict[str, tuple] = {}


def _build(name: str) -> VideoTokenizer:
    torch.manual_seed(0)
    if name.startswith("direct"):
        tc = int(name.split("-")[1][:-1])
        return VideoTokenizer(TokenizerConfig.direct(PRESET, tc))
    tok = VideoTokenizer(TokenizerConfig.preset(PRESET))
    for _ in range({"4x": 0, "grown-8x": 1, "grown-16x": 2}[name]):
        tok = grow(tok)
    return tok


def _model(name: str):
    if name not in _models:
        tok = _build(name).eval()
        x = synthetic_video(FRAMES, SIZE)
        with torch.inference_mode():
            z = tok.encode(x).mode()
        _models[name] = (tok, x, z)
    return _models[name]


@pytest.mark.parametrize("op", ["encode", "decode"])
@pytest.mark.parametrize("name", MODELS)
def test_growth_throughput(benchmark, name, op):
    tok, x, z = _model(name)

    def run():
        with torch.inference_mode():
            return tok.encode(x).mean if op == "encode" else tok.decode(z, num_frames=FRAMES)

    benchmark.group = f"growth/{op}"
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    best = benchmark.stats.stats.min
    tokens = z.shape[2] * z.shape[3] * z.shape[4]
    benchmark.extra_info.update(
        suite="growth", model=name, op=op, preset=PRESET, tc=tok.temporal_compression,
        frames=FRAMES, size=f"{SIZE}x{SIZE}", params_M=round(tok.num_parameters() / 1e6, 2),
        trainable_M=round(sum(p.numel() for p in (tok.trainable_parameters()
                                                  if hasattr(tok, "trainable_parameters")
                                                  else tok.parameters())) / 1e6, 2),
        frames_per_s=round(FRAMES / best, 3), latent_shape=list(z.shape), latent_tokens=tokens,
        latent_tokens_per_video_s=round(tokens * VIDEO_FPS / FRAMES, 1),
        threads=torch.get_num_threads())
