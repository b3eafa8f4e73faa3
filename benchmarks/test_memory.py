"""Peak memory of the tokenizer's encode + decode (pytest-benchmark; each point in a fresh child
process, benchmarks/tokenizer_memory.py): peak RSS (VmHWM) on CPU,
``torch.cuda.max_memory_allocated`` on CUDA.

- ``test_memory_vs_frames``: streamed encode + decode (``stream``: frames fed in chunks of
  ``CHUNK`` from a generator, the output consumed as it comes) against the length of the video,
  17 to 257 frames; the whole clip at once (``whole``: ``encode(x)`` + ``decode(z)``) for
  contrast. Target: the streamed peak flat, <= 1.2x from 33 to 257 frames.
- ``test_memory_vs_resolution``: the same two modes against the resolution, 128 to 512.
- ``test_hires_decode_memory``: decoding a few latent frames at high resolution one latent
  frame at a time, with and without layer-wise spatial tiling (``tile_size``).

``extra_info``: suite="memory", sweep, model, preset, mode, shape, dtype, device, threads,
frames, size, peak_mb, before_mb (the process, with the model, before the run), working_mb
(peak - before), method; ratios measured in the same run: ``peak_vs_<ref>`` (this peak / the
streamed peak at the sweep's reference point: 33 frames, or the smallest size) and, for the
whole-clip rows, ``whole_over_stream`` (the same point's streamed peak as baseline).

``BOOTVID_BENCH_QUICK=1``: 33 and 65 frames at 64x64, 64 and 96 at 33 frames, hi-res 128. Full
mode on CPU: 17 to 257 frames at 128x128, 128 / 256 / 512 at 33 frames, hi-res 1024.
``BOOTVID_BENCH_DEVICE=cuda``: the small preset, the length sweep at 256x256, resolutions up to
1024, hi-res 2048. Run: ``pytest benchmarks/test_memory.py --benchmark-json=mem.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import bootvid
from bench_common import CUDA, DEVICE, DTYPE_NAME, QUICK, env_info, skip_if_no_cuda

skip_if_no_cuda()

CHUNK = 16  # chunks of 17, 16, 16, ... frames (5, 4, 4, ... latents at 4x)
if CUDA:
    PRESET, LENGTHS, LEN_SIZE = "small", (17, 33, 65, 129, 257), 256
    SIZES, RES_FRAMES, HIRES, HIRES_TILE = (128, 256, 512, 1024), 33, 2048, 512
elif QUICK:  # the (33 frames, 64x64) point is shared by both sweeps (measured once)
    PRESET, LENGTHS, LEN_SIZE = "tiny", (33, 65), 64
    SIZES, RES_FRAMES, HIRES, HIRES_TILE = (64, 96), 33, 128, 64
else:  # the length sweep at 128x128 on CPU (time: 256x256 took 83 s at 257 frames, streamed)
    PRESET, LENGTHS, LEN_SIZE = "tiny", (17, 33, 65, 129, 257), 128
    SIZES, RES_FRAMES, HIRES, HIRES_TILE = (128, 256, 512), 33, 1024, 256
LEN_REF = 33 if 33 in LENGTHS else LENGTHS[0]
MODES = ["stream", "whole"]  # whole last: its ratio uses the streamed peak

_HERE = os.path.dirname(os.path.abspath(__file__))
_PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(bootvid.__file__)))
_results: dict[tuple, dict] = {}  # (model, preset, mode, frames, size, tile) -> child result


def run_child(**args) -> dict:
    """One point, in a fresh process (memoised: a point two sweeps share is measured once)."""
    key = tuple(sorted(args.items()))
    if key in _results:
        return dict(_results[key], reused=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PYTHON_DIR, env.get("PYTHONPATH")) if p)
    env["PYTHONWARNINGS"] = "ignore"
    out = subprocess.run([sys.executable, os.path.join(_HERE, "tokenizer_memory.py"),
                          json.dumps(dict(args, device=str(DEVICE)))], env=env,
                         capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"memory child failed ({out.returncode}):\n{out.stderr[-3000:]}")
    _results[key] = json.loads(out.stdout.strip().splitlines()[-1])
    return dict(_results[key])


def measure(benchmark, sweep: str, **args) -> dict:
    result: dict = {}
    benchmark.group = f"memory/{sweep}"
    benchmark.pedantic(lambda: result.update(run_child(**args)), rounds=1, iterations=1)
    frames, size = args["frames"], args["size"]
    if args["mode"] != "decode" and args["model"] == "bootvid":
        assert result["frames"] == frames, result
    info = env_info([1, 3, frames, size, size], dtype=DTYPE_NAME, suite="memory", sweep=sweep,
                    model=args["model"], preset=args.get("preset"), mode=args["mode"],
                    frames=frames, size=size, chunk_frames=CHUNK if args["mode"] == "stream"
                    else None, peak_mb=result["peak_mb"], before_mb=result["before_mb"],
                    working_mb=round(result["peak_mb"] - result["before_mb"], 1),
                    seconds=result["seconds"], method=result["method"],
                    params_M=result["params_M"], reused=result.get("reused", False))
    benchmark.extra_info.update(info)
    return result


def _stream_peak(frames: int, size: int) -> float | None:
    r = _results.get(tuple(sorted(dict(model="bootvid", preset=PRESET, mode="stream",
                                       frames=frames, size=size, chunk=CHUNK).items())))
    return r["peak_mb"] if r else None


def _ratios(benchmark, mode: str, frames: int, size: int, ref_frames: int, ref_size: int,
            ref_name: str) -> None:
    peak = benchmark.extra_info["peak_mb"]
    ref = _stream_peak(ref_frames, ref_size)
    if ref:
        benchmark.extra_info[f"peak_vs_{ref_name}"] = round(peak / ref, 3)
    if mode == "whole":
        s = _stream_peak(frames, size)
        if s:
            benchmark.extra_info["whole_over_stream"] = round(peak / s, 3)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("frames", LENGTHS)
def test_memory_vs_frames(benchmark, frames, mode):
    measure(benchmark, "frames", model="bootvid", preset=PRESET, mode=mode, frames=frames,
            size=LEN_SIZE, chunk=CHUNK)
    _ratios(benchmark, mode, frames, LEN_SIZE, LEN_REF, LEN_SIZE, f"{LEN_REF}_frames")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", SIZES)
def test_memory_vs_resolution(benchmark, size, mode):
    measure(benchmark, "resolution", model="bootvid", preset=PRESET, mode=mode,
            frames=RES_FRAMES, size=size, chunk=CHUNK)
    _ratios(benchmark, mode, RES_FRAMES, size, RES_FRAMES, SIZES[0], f"{SIZES[0]}px")


@pytest.mark.parametrize("tile", [None, HIRES_TILE], ids=["untiled", "tiled"])
def test_hires_decode_memory(benchmark, tile):
    """Peak memory of decoding 2 latent frames (5 frames at 4x) at HIRES x HIRES, streamed one
    latent frame at a time, without and with layer-wise tiling (tiles of HIRES_TILE pixels)."""
    measure(benchmark, "hires", model="bootvid", preset=PRESET, mode="decode", frames=5,
            latents=2, size=HIRES, tile=tile)
    benchmark.extra_info.update(tile_size=tile, chunk_latents=1)
    if tile is not None:
        untiled = _results.get(tuple(sorted(dict(model="bootvid", preset=PRESET, mode="decode",
                                                 frames=5, latents=2, size=HIRES,
                                                 tile=None).items())))
        if untiled:
            benchmark.extra_info["untiled_over_tiled"] = round(
                untiled["peak_mb"] / benchmark.extra_info["peak_mb"], 3)
