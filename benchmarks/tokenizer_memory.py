"""Peak memory of one tokenizer run (encode + decode of a clip, or a decode), in a fresh process
so that nothing else's allocations count. Used by benchmarks/test_memory.py and test_peers.py.

CPU: the peak resident set (VmHWM) of this process over the run, the peak having been reset
(/proc/self/clear_refs) once the model is built, so that building it does not count; with the
resident set just before the run (torch, the model, the input where it is held). CUDA:
``torch.cuda.max_memory_allocated`` over the run, with ``memory_allocated`` before it.

Modes: ``stream`` (bootvid only: frames fed from a generator in chunks, the output consumed as
it comes: ``bootvid.tokenizer.stream_reconstruct``), ``whole`` (the whole clip at once:
``encode(x)`` then ``decode(z)``; diffusers' peers use their own default paths), ``decode``
(bootvid: ``latents`` latent frames decoded one at a time, optionally with spatial tiling).

Usage: python benchmarks/tokenizer_memory.py '{"model": "bootvid", "preset": "tiny",
"mode": "stream", "frames": 33, "size": 128, "chunk": 16, "device": "cpu"}'
Prints one JSON line: {"peak_mb", "before_mb", "frames", "seconds", "method", ...}.
"""

from __future__ import annotations

import json
import sys
import time

import torch

# Run as a script (a child process): benchmarks/ is on sys.path.
from peak_memory import _reset_peak, _status_kib

PEERS = {"wan": "AutoencoderKLWan", "cogvideox": "AutoencoderKLCogVideoX",
         "ltx": "AutoencoderKLLTXVideo"}


def clip(a: int, b: int, S: int) -> torch.Tensor:
    """Frames [a, b) of the synthetic clip (same formula as bootvid's synthetic_video)."""
    t = torch.arange(a, b, dtype=torch.float32).view(1, 1, -1, 1, 1)
    y = torch.linspace(-1, 1, S).view(1, 1, 1, S, 1)
    x = torch.linspace(-1, 1, S).view(1, 1, 1, 1, S)
    c = torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1, 1)
    return (torch.sin(3 * x * c + 0.2 * t) * torch.cos(2 * y + 0.1 * t * c)).contiguous()


def _status_mb(key: str) -> float | None:
    kib = _status_kib(key)
    return None if kib is None else kib / 1024


def main(args: dict) -> dict:
    torch.manual_seed(0)
    dev = torch.device(args.get("device", "cpu"))
    cuda = dev.type == "cuda"
    T, S, mode, chunk = args["frames"], args["size"], args["mode"], args.get("chunk", 16)
    model = args["model"]
    if model == "bootvid":
        from bootvid.tokenizer import VideoTokenizer, stream_reconstruct

        tok = VideoTokenizer(args["preset"]).to(dev).eval()
        params = tok.num_parameters()
    else:
        import diffusers

        tok = getattr(diffusers, PEERS[model])().to(dev).eval()
        params = sum(p.numel() for p in tok.parameters())
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else torch.autocast("cpu",
                                                                                   enabled=False)
    x = clip(0, T, S).to(dev) if mode == "whole" else None
    if cuda:
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated(dev) / 2**20
        torch.cuda.reset_peak_memory_stats(dev)
        method = "torch.cuda.max_memory_allocated"
    else:
        before = _status_mb("VmRSS") or 0.0
        method = "VmHWM after clear_refs" if _reset_peak() else "VmHWM"
    t0 = time.perf_counter()
    frames = 0
    with torch.inference_mode(), amp:
        if mode == "decode":  # high resolution: latent frames through the decoder one at a time
            z = torch.randn(1, tok.latent_channels, args["latents"], S // 8, S // 8,
                            device=dev) * 0.5
            y = tok.decode(z, chunk_latents=1, tile_size=args.get("tile"))
            frames = y.shape[2]
        elif mode == "stream":
            pieces = (clip(a, min(a + chunk, T), S).to(dev) for a in range(0, T, chunk))
            for y in stream_reconstruct(tok, pieces, chunk_frames=chunk):
                frames += y.shape[2]
                del y
        elif model == "bootvid":
            z = tok.encode(x).mode()
            y = tok.decode(z, num_frames=T)
            frames = y.shape[2]
        else:
            z = tok.encode(x).latent_dist.mode()
            y = tok.decode(z).sample
            frames = y.shape[2]
    if cuda:
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated(dev) / 2**20
    else:
        peak = _status_mb("VmHWM") or 0.0
    return dict(peak_mb=round(peak, 1), before_mb=round(before, 1), frames=frames,
                seconds=round(time.perf_counter() - t0, 2), method=method,
                params_M=round(params / 1e6, 2), threads=torch.get_num_threads())


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
