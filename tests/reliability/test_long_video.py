"""Long videos: streaming encode + decode runs in constant memory (peak RSS of a child process
does not grow with the length), and latents encoded in chunks equal the whole clip's."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import torch

_CHILD = textwrap.dedent("""
    import json, sys, torch
    from bootvid.tokenizer import TokenizerConfig, VideoTokenizer
    from bootvid.tokenizer.streaming import stream_reconstruct

    frames, mode = int(sys.argv[1]), sys.argv[2]
    torch.manual_seed(0)
    tok = VideoTokenizer(TokenizerConfig.preset("tiny", base_channels=16, norm_groups=4)).eval()

    def pieces():  # a long synthetic video, produced 16 frames at a time
        for start in range(0, frames, 16):
            n = min(16, frames - start)
            t = torch.arange(start, start + n, dtype=torch.float32).view(1, 1, n, 1, 1)
            yield torch.sin(0.1 * t + torch.linspace(0, 6, 48).view(1, 1, 1, 1, 48)).expand(
                1, 3, n, 48, 48).contiguous()

    seen = 0
    with torch.no_grad():
        if mode == "stream":
            for out in stream_reconstruct(tok, pieces(), chunk_frames=16):
                seen += out.shape[2]
        else:  # the whole clip at once: what streaming avoids
            seen = tok.decode(tok.encode(torch.cat(list(pieces()), 2)).mean,
                              num_frames=frames).shape[2]
    # VmHWM, not getrusage's ru_maxrss: Linux keeps ru_maxrss across fork + exec, so a child
    # of a big process (pytest after the whole suite) would report its parent's peak.
    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    print(json.dumps({"frames": seen, "peak_mib": hwm / 1024}))
""")


def _peak(frames: int, mode: str = "stream") -> dict:
    r = subprocess.run([sys.executable, "-c", _CHILD, str(frames), mode], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_streaming_memory_does_not_grow_with_length():
    short, long = _peak(65), _peak(513)  # 8x more frames
    assert short["frames"] == 65 and long["frames"] == 513
    assert long["peak_mib"] <= 1.1 * short["peak_mib"], (short, long)
    # the measurement can see growth: the same video at once needs far more
    whole = _peak(513, "whole")
    assert whole["frames"] == 513 and whole["peak_mib"] > 1.5 * short["peak_mib"], (short, whole)


def test_chunked_latents_equal_the_whole_clip():
    from bootvid.tokenizer import TokenizerConfig, VideoTokenizer

    torch.manual_seed(0)
    tok = VideoTokenizer(TokenizerConfig.preset("tiny", base_channels=16, norm_groups=4)).eval()
    x = torch.rand(1, 3, 97, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        whole = tok.encode(x).mean
        for chunk in (4, 16, 32, [17, 8, 24]):
            torch.testing.assert_close(tok.encode(x, chunk_frames=chunk).mean, whole,
                                       rtol=1e-5, atol=1e-5)
