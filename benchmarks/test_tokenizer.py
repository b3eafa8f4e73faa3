"""Tokenizer benchmarks (pytest-benchmark), CPU.

- Encode and decode throughput (frames/s) of each preset on a 17x128x128 clip, on bootvid's
  compiled kernels and on the reference ops; the kernel rows carry the speed-up over the
  reference ops in ``extra_info["speedup_vs_reference"]`` (target >= 1.15x).
- Peak memory (peak RSS, VmHWM, of a child process) of chunked encode + decode at 33, 129 and 257
  frames, 256x256, tiny preset: ``stream`` mode feeds frames from a generator and consumes the
  output as it comes (the constant-memory path: peak RSS should not grow with the length),
  ``tensor`` mode holds input and output video tensors (``encode(x, chunk_frames)`` +
  ``decode(z, chunk_latents)``), whose size grows with the length.
- High resolution: peak RSS of decoding at 1024x1024 with and without layer-wise spatial
  tiling (``tile_size=256``), and the seam error of tiling (max |tiled - untiled|).
- The same figures for diffusers' ``AutoencoderKLWan`` and ``AutoencoderKLCogVideoX`` from
  their default configs (random weights) as the peer reference, skipped without diffusers.

``BOOTVID_BENCH_QUICK=1``: tiny preset only, memory at 33 and 65 frames of 128x128, the
high-resolution decode at 512x512, peers' throughput only. ``BOOTVID_BENCH_PEER_MEMORY=1``
adds the peers' memory runs (slow on CPU).
Run: ``pytest benchmarks/test_tokenizer.py --benchmark-json=out.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
import torch

import bootvid
from bootvid import ops
from bootvid.tokenizer import TokenizerConfig, VideoTokenizer, synthetic_video

QUICK = os.environ.get("BOOTVID_BENCH_QUICK", "").strip().lower() in {"1", "true", "yes", "on"}
PEER_MEMORY = os.environ.get("BOOTVID_BENCH_PEER_MEMORY", "").strip() == "1"

PRESETS = ["tiny"] if QUICK else ["tiny", "small", "base"]
FPS_FRAMES, FPS_SIZE = 17, 128
ROUNDS = {"tiny": 5, "small": 2, "base": 1}
MEM_FRAMES = (33, 65) if QUICK else (33, 129, 257)
MEM_SIZE = 128 if QUICK else 256
MEM_CHUNK_FRAMES = 16  # chunks of 17, 16, 16, ... frames (5, 4, 4, ... latents)

_PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(bootvid.__file__)))
_models: dict[str, tuple[VideoTokenizer, torch.Tensor, torch.Tensor]] = {}
_best: dict[tuple, float] = {}  # (preset, op, backend) -> best seconds
_rss: dict[tuple, float] = {}  # (model, mode, size) -> peak RSS (MiB) at the shortest length


def _model(preset: str):
    if preset not in _models:
        torch.manual_seed(0)
        tok = VideoTokenizer(TokenizerConfig.preset(preset)).eval()
        x = synthetic_video(FPS_FRAMES, FPS_SIZE)
        with torch.inference_mode():
            z = tok.encode(x).mode()
        _models[preset] = (tok, x, z)
    return _models[preset]


def _best_time(fn, rounds: int) -> float:
    fn()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _op_fn(preset: str, op: str):
    tok, x, z = _model(preset)

    def run():
        with torch.inference_mode():
            return tok.encode(x).mean if op == "encode" else tok.decode(z)

    return run


@pytest.mark.parametrize("backend", ["reference", "kernels"])
@pytest.mark.parametrize("op", ["encode", "decode"])
@pytest.mark.parametrize("preset", PRESETS)
def test_tokenizer_throughput(benchmark, preset, op, backend):
    if backend == "kernels" and not ops.kernels_available():
        pytest.skip(f"compiled kernels not available ({ops.load_error()})")
    fn = _op_fn(preset, op)
    rounds = ROUNDS[preset]
    with ops.use_reference(backend == "reference"):
        benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)
    best = benchmark.stats.stats.min
    _best[(preset, op, backend)] = best
    tok = _model(preset)[0]
    info = dict(preset=preset, op=op, backend=backend, frames=FPS_FRAMES,
                size=f"{FPS_SIZE}x{FPS_SIZE}", params_M=round(tok.num_parameters() / 1e6, 2),
                frames_per_s=round(FPS_FRAMES / best, 3), threads=torch.get_num_threads())
    if backend == "kernels":
        ref = _best.get((preset, op, "reference"))
        if ref is None:
            with ops.use_reference():
                ref = _best_time(fn, rounds)
        info["reference_s"] = round(ref, 4)
        info["speedup_vs_reference"] = round(ref / best, 3)
    benchmark.extra_info.update(info)


# ---- peak memory of chunked processing, in a child process ---------------------------------

_CHILD = textwrap.dedent("""
    import json, resource, sys, time
    import torch
    args = json.loads(sys.argv[1])
    torch.manual_seed(0)
    T, S, mode, chunk = args["frames"], args["size"], args["mode"], args["chunk"]

    def clip(a, b):
        t = torch.arange(a, b, dtype=torch.float32).view(1, 1, -1, 1, 1)
        y = torch.linspace(-1, 1, S).view(1, 1, 1, S, 1)
        x = torch.linspace(-1, 1, S).view(1, 1, 1, 1, S)
        c = torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1, 1)
        return (torch.sin(3 * x * c + 0.2 * t) * torch.cos(2 * y + 0.1 * t * c)).contiguous()

    def rss_mb():
        # VmHWM, the peak RSS of this process image: ru_maxrss would carry the parent's peak
        # over fork + exec (Linux keeps the larger of the two).
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    model = args["model"]
    if model == "bootvid":
        from bootvid.tokenizer import VideoTokenizer, stream_reconstruct
        tok = VideoTokenizer(args["preset"]).eval()
    elif model == "wan":
        from diffusers import AutoencoderKLWan
        tok = AutoencoderKLWan().eval()
    else:
        from diffusers import AutoencoderKLCogVideoX
        tok = AutoencoderKLCogVideoX().eval()
    base = rss_mb()
    t0 = time.perf_counter()
    frames, sq = 0, 0.0
    with torch.inference_mode():
        if mode == "decode":  # high resolution: latent frames through the decoder
            z = torch.randn(1, tok.latent_channels, args["latents"], S // 8, S // 8) * 0.5
            y = tok.decode(z, chunk_latents=1, tile_size=args.get("tile"))
            frames = y.shape[2]
        elif model != "bootvid":
            x = clip(0, T)
            z = tok.encode(x).latent_dist.mode()
            y = tok.decode(z).sample
            frames, sq = y.shape[2], float((y - x[:, :, :y.shape[2]]).square().mean())
        elif mode == "stream":
            pieces = (clip(a, min(a + chunk, T)) for a in range(0, T, chunk))
            for y in stream_reconstruct(tok, pieces, chunk_frames=chunk):
                frames += y.shape[2]
                sq += float(y.square().sum())
        else:
            x = clip(0, T)
            post = tok.encode(x, chunk_frames=chunk)
            y = tok.decode(post.mode(), num_frames=T, chunk_latents=4)
            frames = y.shape[2]
    print(json.dumps(dict(peak_rss_mb=rss_mb(), model_rss_mb=base, frames=frames,
                          seconds=time.perf_counter() - t0)))
""")


def _run_child(**args) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PYTHON_DIR, env.get("PYTHONPATH")) if p)
    env["PYTHONWARNINGS"] = "ignore"
    out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(args)], env=env,
                         capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"memory child failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _memory_case(benchmark, model: str, mode: str, frames: int, **extra):
    result: dict = {}

    def run():
        result.update(_run_child(model=model, mode=mode, frames=frames, size=MEM_SIZE,
                                 chunk=MEM_CHUNK_FRAMES, **extra))

    benchmark.pedantic(run, rounds=1, iterations=1)
    assert result["frames"] == frames or model != "bootvid"
    key = (model, mode, MEM_SIZE)
    if frames == MEM_FRAMES[0]:
        _rss[key] = result["peak_rss_mb"]
    info = dict(model=model, mode=mode, frames=frames, size=f"{MEM_SIZE}x{MEM_SIZE}",
                chunk_frames=MEM_CHUNK_FRAMES, peak_rss_mb=round(result["peak_rss_mb"], 1),
                model_rss_mb=round(result["model_rss_mb"], 1),
                seconds=round(result["seconds"], 2), **extra)
    if key in _rss:
        info[f"rss_growth_vs_{MEM_FRAMES[0]}"] = round(result["peak_rss_mb"] / _rss[key] - 1, 4)
    benchmark.extra_info.update(info)
    return result


@pytest.mark.parametrize("frames", MEM_FRAMES)
@pytest.mark.parametrize("mode", ["stream", "tensor"])
def test_chunked_peak_memory(benchmark, mode, frames):
    _memory_case(benchmark, "bootvid", mode, frames, preset="tiny")


# ---- spatial tiling: high-resolution decode memory and seam error ---------------------------

TILE_SIZE = 256
HIRES = 512 if QUICK else 1024


@pytest.mark.parametrize("tile", [TILE_SIZE, None], ids=["tiled", "untiled"])
def test_hires_decode_memory(benchmark, tile):
    """Peak RSS of decoding 2 latent frames (5 frames) at HIRES x HIRES, tiny preset,
    streamed one latent frame at a time, with and without layer-wise tiling."""
    result: dict = {}

    def run():
        result.update(_run_child(model="bootvid", preset="tiny", mode="decode", frames=5,
                                 latents=2, size=HIRES, chunk=MEM_CHUNK_FRAMES, tile=tile))

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(model="bootvid", preset="tiny", size=f"{HIRES}x{HIRES}",
                                frames=result["frames"], tile_size=tile, chunk_latents=1,
                                peak_rss_mb=round(result["peak_rss_mb"], 1),
                                model_rss_mb=round(result["model_rss_mb"], 1),
                                seconds=round(result["seconds"], 2))


def test_tiling_seam_error(benchmark):
    """Max |tiled - untiled| of encode and decode at 256x256 with 64-pixel tiles (the seams of
    latent tiling would show here; layer-wise tiling is exact up to float rounding)."""
    tok = _model("tiny")[0]
    x = synthetic_video(9, 256)
    with torch.inference_mode():
        post = tok.encode(x)
        recon = tok.decode(post.mode())
    out: dict = {}

    def run():
        with torch.inference_mode():
            out["post"] = tok.encode(x, tile_size=64)
            out["recon"] = tok.decode(post.mode(), tile_size=64)

    benchmark.pedantic(run, rounds=1, iterations=1)
    enc_err = (out["post"].mean - post.mean).abs()
    dec_err = (out["recon"] - recon).abs()
    benchmark.extra_info.update(
        preset="tiny", size="256x256", frames=9, tile_size=64,
        encode_max_abs_err=float(enc_err.max()), encode_mean_abs_err=float(enc_err.mean()),
        decode_max_abs_err=float(dec_err.max()), decode_mean_abs_err=float(dec_err.mean()),
        decode_signal_std=float(recon.std()))
    assert float(dec_err.max()) < 1e-4


# ---- peers: diffusers' video VAEs from their default configs ----------------------------------

def _diffusers():
    return pytest.importorskip("diffusers", reason="diffusers is not installed: no peer figures")


_PEERS = {"wan": "AutoencoderKLWan", "cogvideox": "AutoencoderKLCogVideoX"}
_peer_models: dict[str, tuple] = {}


def _peer(name: str):
    diffusers = _diffusers()
    if name not in _peer_models:
        torch.manual_seed(0)
        vae = getattr(diffusers, _PEERS[name])().eval()
        x = synthetic_video(FPS_FRAMES, FPS_SIZE)
        with torch.inference_mode():
            z = vae.encode(x).latent_dist.mode()
        _peer_models[name] = (vae, x, z)
    return _peer_models[name]


@pytest.mark.parametrize("op", ["encode", "decode"])
@pytest.mark.parametrize("peer", list(_PEERS))
def test_peer_throughput(benchmark, peer, op):
    vae, x, z = _peer(peer)

    def run():
        with torch.inference_mode():
            return vae.encode(x).latent_dist.mode() if op == "encode" else vae.decode(z).sample

    benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=1)
    best = benchmark.stats.stats.min
    benchmark.extra_info.update(
        model=_PEERS[peer], op=op, frames=FPS_FRAMES, size=f"{FPS_SIZE}x{FPS_SIZE}",
        params_M=round(sum(p.numel() for p in vae.parameters()) / 1e6, 2),
        latent_shape=list(z.shape), frames_per_s=round(FPS_FRAMES / best, 3),
        threads=torch.get_num_threads())


@pytest.mark.skipif(not PEER_MEMORY, reason="peer memory runs take very long on CPU; set "
                                            "BOOTVID_BENCH_PEER_MEMORY=1 to run them")
@pytest.mark.parametrize("frames", MEM_FRAMES)
@pytest.mark.parametrize("peer", list(_PEERS))
def test_peer_peak_memory(benchmark, peer, frames):
    _diffusers()
    _memory_case(benchmark, peer, "whole", frames)
