"""Peers (pytest-benchmark): diffusers' video VAEs, ``AutoencoderKLWan``,
``AutoencoderKLCogVideoX`` and ``AutoencoderKLLTXVideo``, built from their default configs with
random weights, timed on the same clip as bootvid's presets (``PRESET_CLIP``: 17x128x128 on CPU)
in the same run; skipped when diffusers is not installed (it is optional).

- ``test_peer_throughput``: encode and decode, frames/s. Ratios against bootvid's presets
  (small and base; tiny in quick mode) from benchmarks/test_tokenizer.py in the same run
  (measured here when that suite did not run): ``speedup_of_bootvid_<preset>`` = this peer's
  median / bootvid's (> 1: bootvid faster), and on the decode rows the encode + decode time per
  frame (``recon_s_per_frame``) with ``recon_speedup_of_bootvid_<preset>``. Target: the 4x
  small/base presets no slower per frame than Wan's VAE.
- ``test_peer_memory``: peak memory of encoding + decoding the whole clip, each model in a fresh
  process (benchmarks/tokenizer_memory.py), bootvid's presets included as the baseline
  (``peak_vs_bootvid_<preset>``). Off unless ``BOOTVID_BENCH_PEER_MEMORY=1`` (minutes on CPU);
  never in quick mode, where only Wan's throughput runs.

Run: ``pip install diffusers && pytest benchmarks/test_peers.py --benchmark-json=peers.json``.
"""

from __future__ import annotations

import pytest
import torch

from bench_common import (DEVICE, DTYPE_NAME, MEDIANS, PRESET_CLIP, QUICK, adaptive_pedantic,
                          autocast, best_time, env_info, flag, median_s, skip_if_no_cuda, sync)

skip_if_no_cuda()
try:
    import diffusers
except ImportError as e:  # not installed (optional), or installed but unusable
    pytest.skip(f"diffusers is not installed or does not import ({e}): no peer figures "
                "(optional: `pip install diffusers` adds the Wan, CogVideoX and LTX-Video VAEs)",
                allow_module_level=True)

ALL_PEERS = {"wan": "AutoencoderKLWan", "cogvideox": "AutoencoderKLCogVideoX",
             "ltx": "AutoencoderKLLTXVideo"}
PEERS = {"wan": ALL_PEERS["wan"]} if QUICK else ALL_PEERS  # quick: the one with a target
PEER_MEMORY = flag("BOOTVID_BENCH_PEER_MEMORY")
COMPARE = ["tiny"] if QUICK else ["small", "base"]  # bootvid's presets the peers are held to
BUDGET_S, MAX_ROUNDS = (0.5, 2) if QUICK else (3.0, 3)

_peer_models: dict[str, tuple] = {}


@pytest.fixture(scope="module", autouse=True)
def _free_models():
    yield
    _peer_models.clear()


def _params(m) -> int:
    return sum(p.numel() for p in m.parameters())


def _peer(name: str):
    if name not in _peer_models:
        _peer_models.clear()  # one peer in memory at a time
        torch.manual_seed(0)
        vae = getattr(diffusers, PEERS[name])().to(DEVICE).eval()
        frames, size = PRESET_CLIP
        from bootvid.tokenizer import synthetic_video

        x = synthetic_video(frames, size).to(DEVICE)
        with torch.inference_mode(), autocast():
            z = vae.encode(x).latent_dist.mode()
        _peer_models[name] = (vae, x, z)
    return _peer_models[name]


def _bootvid_median(preset: str, op: str) -> tuple[float, bool]:
    """bootvid's median for ``op`` on PRESET_CLIP with its kernels, from the tokenizer suite in
    this run, else measured here (best of 1 after a warm-up). Returns (seconds, measured_here)."""
    frames, size = PRESET_CLIP
    key = ("presets", preset, op, "kernels", frames, size)
    if key in MEDIANS:
        return MEDIANS[key], False
    from bootvid.tokenizer import TokenizerConfig, VideoTokenizer, synthetic_video

    torch.manual_seed(0)
    tok = VideoTokenizer(TokenizerConfig.preset(preset)).to(DEVICE).eval()
    x = synthetic_video(frames, size).to(DEVICE)
    with torch.inference_mode(), autocast():
        z = tok.encode(x).mode()

    def run():
        with torch.inference_mode(), autocast():
            tok.encode(x).mean if op == "encode" else tok.decode(z, num_frames=frames)
        sync()

    MEDIANS[key] = best_time(run)
    return MEDIANS[key], True


@pytest.mark.parametrize("op", ["encode", "decode"])  # decode last: it adds encode + decode
@pytest.mark.parametrize("peer", list(PEERS))
def test_peer_throughput(benchmark, peer, op):
    vae, x, z = _peer(peer)
    frames, size = PRESET_CLIP

    def run():
        with torch.inference_mode(), autocast():
            vae.encode(x).latent_dist.mode() if op == "encode" else vae.decode(z).sample
        sync()

    benchmark.group = f"peers/{op}"
    # the encode already ran once when the latent was made: that was its warm-up
    adaptive_pedantic(benchmark, run, BUDGET_S, MAX_ROUNDS, warm=op != "encode")
    med = median_s(benchmark)
    if med is None:  # --benchmark-disable: the case ran once, untimed
        return
    MEDIANS[("peers", peer, op)] = med
    info = env_info([1, 3, frames, size, size], suite="peers", model=PEERS[peer], peer=peer,
                    op=op, frames=frames, size=f"{size}x{size}",
                    params_M=round(_params(vae) / 1e6, 2), latent_shape=list(z.shape),
                    frames_per_s=round(frames / med, 3), s_per_frame=round(med / frames, 4),
                    diffusers=diffusers.__version__)
    enc = MEDIANS.get(("peers", peer, "encode"))
    if op == "decode" and enc is not None:
        info["recon_s_per_frame"] = round((enc + med) / frames, 4)
    for preset in COMPARE:
        b, here = _bootvid_median(preset, op)
        info[f"speedup_of_bootvid_{preset}"] = round(med / b, 3)
        info[f"bootvid_{preset}_s_per_frame"] = round(b / frames, 4)
        if here:
            info[f"bootvid_{preset}_measured_here"] = True
        if "recon_s_per_frame" in info:
            b_enc, _ = _bootvid_median(preset, "encode")
            info[f"bootvid_{preset}_recon_s_per_frame"] = round((b_enc + b) / frames, 4)
            info[f"recon_speedup_of_bootvid_{preset}"] = round((enc + med) / (b_enc + b), 3)
    benchmark.extra_info.update(info)


@pytest.mark.skipif(not PEER_MEMORY or QUICK,
                    reason="peer memory runs take minutes on CPU: set BOOTVID_BENCH_PEER_MEMORY=1 "
                           "(full mode) to run them")
@pytest.mark.parametrize("model", [f"bootvid-{p}" for p in COMPARE] + list(PEERS))
def test_peer_memory(benchmark, model):
    """Peak memory of encode + decode of the whole PRESET_CLIP clip, in a fresh process."""
    from test_memory import measure

    frames, size = PRESET_CLIP
    if model.startswith("bootvid-"):
        args = dict(model="bootvid", preset=model.split("-", 1)[1])
    else:
        args = dict(model=model)
    r = measure(benchmark, "peers", mode="whole", frames=frames, size=size, **args)
    benchmark.group = "peers/memory"
    benchmark.extra_info.update(suite="peers", table="memory", model=model,
                                dtype=DTYPE_NAME)
    MEDIANS[("peers-memory", model)] = r["peak_mb"]
    if not model.startswith("bootvid-"):
        for preset in COMPARE:
            b = MEDIANS.get(("peers-memory", f"bootvid-{preset}"))
            if b:
                benchmark.extra_info[f"peak_vs_bootvid_{preset}"] = round(r["peak_mb"] / b, 3)
