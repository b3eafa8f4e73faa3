"""Tokenizer benchmarks (pytest-benchmark): throughput, frames/s, on bootvid's compiled kernels
and on the pure-PyTorch reference ops, measured in the same run.

- ``test_preset``: encode and decode of each 4x preset (tiny, small, base) on one clip
  (``PRESET_CLIP``; on CPU 17x128x128, the clip of the peers' comparison in test_peers.py).
- ``test_growth``: encode, decode and a training step (forward + backward + AdamW step of an
  L1 + MSE reconstruction loss, batch 1) of the 4x tokenizer, the 8x and 16x tokenizers grown
  on it (``bootvid.grow``, ProMAG) and the direct 8x / 16x baselines
  (``TokenizerConfig.direct``), all from one preset; with the latent tokens each gives per
  second of video (the token budget a diffusion model pays).
- ``test_tiling_seam_error``: max |tiled - untiled| of layer-wise spatial tiling.

Every row's ``extra_info``: suite="tokenizer", table (presets / growth), model, preset, op,
backend, tc, shape, dtype, device, threads, params_M, trainable_M, frames_per_s,
latent_shape, latent_tokens, latent_tokens_per_video_s; kernel rows add
``speedup_vs_reference`` (reference median / kernels median, same run; targets: >= 1.15x on
CPU, >= 1.5x on CUDA in bf16), growth rows ``speed_vs_4x`` (the 4x model's median / this
one's, same op and backend). Peak memory is in test_memory.py, the peers in test_peers.py.

``BOOTVID_BENCH_QUICK=1``: tiny preset only, 64x64 clips, short timing budgets.
``BOOTVID_BENCH_DEVICE=cuda``: bf16 autocast, 256x256 clips, the growth family on "small".
Run: ``pytest benchmarks/test_tokenizer.py --benchmark-json=tok.json``.
"""

from __future__ import annotations

import pytest
import torch

from bench_common import (CUDA, DEVICE, MEDIANS, PRESET_CLIP, QUICK, adaptive_pedantic,
                          autocast, best_time, env_info, median_s, skip_if_no_cuda, sync)
from bootvid import grow, ops
from bootvid.tokenizer import TokenizerConfig, VideoTokenizer, synthetic_video

skip_if_no_cuda()

PRESETS = ["tiny"] if QUICK else ["tiny", "small", "base"]
GROWTH = ["4x", "grown-8x", "grown-16x", "direct-8x", "direct-16x"]
if CUDA:
    GROWTH_PRESET = "small"
    GROWTH_CLIP, TRAIN_CLIP = (65, 256), (33, 256)
    BUDGET_S, MAX_ROUNDS = 2.0, 10
elif QUICK:
    GROWTH_PRESET = "tiny"
    GROWTH_CLIP, TRAIN_CLIP = (33, 64), (17, 64)
    BUDGET_S, MAX_ROUNDS = 0.5, 3
else:
    GROWTH_PRESET = "tiny"
    # The training step on 64x64 on CPU: at 128x128 the ten training rows alone took minutes.
    GROWTH_CLIP, TRAIN_CLIP = (33, 128), (17, 64)
    BUDGET_S, MAX_ROUNDS = 3.0, 5
#: models whose calls take tens of seconds on CPU: one timed call without a separate warm-up
#: (building the input latent already ran an encode; a call's one-time costs, oneDNN primitive
#: creation, are milliseconds against those seconds)
HEAVY = set() if CUDA else {"base"}
VIDEO_FPS = 24  # for "latent tokens per second of video"
BACKENDS = ["reference", "kernels"]  # kernels last: their ratio uses the reference's median

_models: dict[str, VideoTokenizer] = {}
_inputs: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def _build(name: str) -> VideoTokenizer:
    torch.manual_seed(0)
    if name in ("tiny", "small", "base"):
        return VideoTokenizer(TokenizerConfig.preset(name))
    if name.startswith("direct"):
        return VideoTokenizer(TokenizerConfig.direct(GROWTH_PRESET, int(name.split("-")[1][:-1])))
    tok = VideoTokenizer(TokenizerConfig.preset(GROWTH_PRESET))
    for _ in range({"4x": 0, "grown-8x": 1, "grown-16x": 2}[name]):
        tok = grow(tok)
    return tok


def _model(name: str) -> VideoTokenizer:
    if name not in _models:
        _models[name] = _build(name).to(DEVICE).eval()
    return _models[name]


def _clip(name: str, frames: int, size: int):
    """The clip and its latent (posterior mode) for model ``name``."""
    key = (name, frames, size)
    if key not in _inputs:
        tok = _model(name)
        x = synthetic_video(frames, size).to(DEVICE)
        with torch.inference_mode(), autocast():
            z = tok.encode(x).mode()
        _inputs[key] = (x, z)
    return _inputs[key]


@pytest.fixture(scope="module", autouse=True)
def _free_models():
    yield
    _models.clear()
    _inputs.clear()


def _trainable(tok) -> list[torch.nn.Parameter]:
    grown = hasattr(tok, "trainable_parameters")
    params = tok.trainable_parameters() if grown else tok.parameters()
    return [p for p in params if p.requires_grad]


def _forward_fn(name: str, op: str, frames: int, size: int):
    tok = _model(name)
    x, z = _clip(name, frames, size)

    def run():
        with torch.inference_mode(), autocast():
            if op == "encode":
                tok.encode(x).mean
            else:
                tok.decode(z, num_frames=frames)
        sync()

    return run


def _train_fn(name: str, frames: int, size: int):
    """One training step of a fresh copy of the model (its own optimizer state)."""
    tok = _build(name).to(DEVICE).train()
    opt = torch.optim.AdamW(_trainable(tok), lr=1e-4)
    x = synthetic_video(frames, size).to(DEVICE)
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(tok.latent_shape(frames, size, size), generator=g).unsqueeze(0).to(DEVICE)

    def run():
        with autocast():
            post = tok.encode(x)
            z = post.mean + post.std * noise
            y = tok.decode(z, num_frames=frames)
            loss = (y.float() - x).abs().mean() + (y.float() - x).square().mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync()

    return run, tok


def _record(benchmark, table: str, name: str, op: str, backend: str, frames: int, size: int,
            tok: VideoTokenizer, fn) -> None:
    med = median_s(benchmark)
    if med is None:  # --benchmark-disable: the case ran once, untimed
        return
    key = (table, name, op, backend, frames, size)
    MEDIANS[key] = med
    Tl, Hl, Wl = tok.latent_shape(frames, size, size)[1:]
    tokens = Tl * Hl * Wl
    info = env_info([1, 3, frames, size, size], suite="tokenizer", table=table, model=name,
                    preset=name if table == "presets" else GROWTH_PRESET, op=op,
                    backend=backend, tc=tok.temporal_compression, frames=frames,
                    size=f"{size}x{size}", params_M=round(tok.num_parameters() / 1e6, 2),
                    trainable_M=round(sum(p.numel() for p in _trainable(tok)) / 1e6, 2),
                    frames_per_s=round(frames / med, 3),
                    latent_shape=[1, tok.latent_channels, Tl, Hl, Wl], latent_tokens=tokens,
                    latent_tokens_per_video_s=round(tokens * VIDEO_FPS / frames, 1))
    if backend == "kernels":
        ref = MEDIANS.get((table, name, op, "reference", frames, size))
        if ref is None:  # the reference row did not run (-k): measure it here
            with ops.use_reference():
                ref = best_time(fn)
            info["reference_measured_here"] = True
        info["reference_s"] = round(ref, 4)
        info["speedup_vs_reference"] = round(ref / med, 3)
    if table == "growth" and name != "4x":
        base = MEDIANS.get((table, "4x", op, backend, frames, size))
        if base is not None:
            info["speed_vs_4x"] = round(base / med, 3)
    benchmark.extra_info.update(info)


def _skip_without_kernels(backend: str) -> None:
    if backend == "kernels" and not ops.kernels_available(DEVICE):
        pytest.skip(f"compiled kernels not available on {DEVICE} ({ops.load_error()})")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", ["encode", "decode"])
@pytest.mark.parametrize("preset", PRESETS)
def test_preset(benchmark, preset, op, backend):
    _skip_without_kernels(backend)
    frames, size = PRESET_CLIP
    fn = _forward_fn(preset, op, frames, size)
    benchmark.group = f"tokenizer/{op}/{preset}"
    with ops.use_reference(backend == "reference"):
        adaptive_pedantic(benchmark, fn, BUDGET_S, MAX_ROUNDS,
                          warm=preset not in HEAVY)
    _record(benchmark, "presets", preset, op, backend, frames, size, _model(preset), fn)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", ["encode", "decode", "train_step"])
@pytest.mark.parametrize("name", GROWTH)
def test_growth(benchmark, name, op, backend):
    _skip_without_kernels(backend)
    if op == "train_step":
        frames, size = TRAIN_CLIP
        fn, tok = _train_fn(name, frames, size)
    else:
        frames, size = GROWTH_CLIP
        fn, tok = _forward_fn(name, op, frames, size), _model(name)
    benchmark.group = f"tokenizer/growth/{op}"
    with ops.use_reference(backend == "reference"):
        adaptive_pedantic(benchmark, fn, BUDGET_S, MAX_ROUNDS)
    _record(benchmark, "growth", name, op, backend, frames, size, tok, fn)


def test_tiling_seam_error(benchmark):
    """Max |tiled - untiled| of encode and decode at 128x128 (256 on CUDA) with 64-pixel
    tiles, fp32 (the seams of latent tiling would show here; layer-wise tiling is exact up to
    float rounding)."""
    size = 256 if CUDA else 128
    tok = _model("tiny")
    x = synthetic_video(9, size).to(DEVICE)
    with torch.inference_mode():
        post = tok.encode(x)
        recon = tok.decode(post.mode())
    out: dict = {}

    def run():
        with torch.inference_mode():
            out["post"] = tok.encode(x, tile_size=64)
            out["recon"] = tok.decode(post.mode(), tile_size=64)
        sync()

    benchmark.group = "tokenizer/tiling"
    benchmark.pedantic(run, rounds=1, iterations=1)
    enc_err = (out["post"].mean - post.mean).abs()
    dec_err = (out["recon"] - recon).abs()
    benchmark.extra_info.update(env_info(
        [1, 3, 9, size, size], dtype="float32", suite="tokenizer", table="tiling", preset="tiny",
        frames=9, size=f"{size}x{size}", tile_size=64,
        encode_max_abs_err=float(enc_err.max()), encode_mean_abs_err=float(enc_err.mean()),
        decode_max_abs_err=float(dec_err.max()), decode_mean_abs_err=float(dec_err.mean()),
        decode_signal_std=float(recon.std())))
    assert float(dec_err.max()) < 1e-4
