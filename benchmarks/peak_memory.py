"""Peak memory of one causal_conv3d call (bootvid's kernel or the F.pad + F.conv3d composite),
measured in a fresh process so nothing else's allocations count.

CPU: the peak resident set (VmHWM) over the call, minus the resident set just before it
(inputs allocated, one warm-up call done, the peak reset through /proc/self/clear_refs; without
that file, getrusage's max RSS over the whole process). Run it with
``MALLOC_MMAP_THRESHOLD_=65536`` (benchmarks/test_ops.py does) so glibc hands freed blocks back
to the system and the resident set follows the live tensors. CUDA:
``torch.cuda.max_memory_allocated`` over the call, minus the memory allocated before it.

Usage: python benchmarks/peak_memory.py --impl kernel|eager --mode fwd|fwd+bwd
       [--shape 1,128,17,64,64] [--cout 128] [--device cpu] [--dtype float32]
Prints one JSON line: {"peak_bytes": ..., "input_bytes": ..., "output_bytes": ..., ...}.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import op_baselines  # noqa: E402


def _status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--impl", choices=["kernel", "eager"], required=True)
    ap.add_argument("--mode", choices=["fwd", "fwd+bwd"], default="fwd")
    ap.add_argument("--shape", default="1,128,17,64,64")
    ap.add_argument("--cout", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    a = ap.parse_args(argv)

    import bootvid.ops as ops

    B, C, T, H, W = (int(v) for v in a.shape.split(","))
    cout = a.cout or C
    dtype = getattr(torch, a.dtype)
    dev = torch.device(a.device)
    grad = a.mode == "fwd+bwd"
    g = torch.Generator().manual_seed(0)
    x = torch.randn(B, C, T, H, W, generator=g).to(dev, dtype).requires_grad_(grad)
    w = (0.05 * torch.randn(cout, C, 3, 3, 3, generator=g)).to(dev, dtype).requires_grad_(grad)
    b = torch.randn(cout, generator=g).to(dev, dtype).requires_grad_(grad)
    fn = ops.causal_conv3d if a.impl == "kernel" else op_baselines.causal_conv3d
    if a.impl == "kernel" and not ops.kernels_available(dev):
        raise SystemExit(f"bootvid's kernels are not available on {dev}")

    def call():
        if grad:
            y, _ = fn(x, w, b, (1, 1, 1), (1, 1))
            gs = torch.autograd.grad(y, (x, w, b), torch.ones_like(y))
            out_bytes = y.numel() * y.element_size()
            del y, gs
        else:
            with torch.inference_mode():
                y, c = fn(x, w, b, (1, 1, 1), (1, 1))
                out_bytes = y.numel() * y.element_size()
                del y, c
        return out_bytes

    input_bytes = sum(t.numel() * t.element_size() for t in (x, w, b))
    call()  # warm-up: primitives, caches, lazy initialisation
    gc.collect()
    method = ""
    if dev.type == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        out_bytes = call()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
        method = "torch.cuda.max_memory_allocated"
    else:
        base_kib = _status_kib("VmRSS")
        if base_kib is not None and _reset_peak():
            out_bytes = call()
            peak = (_status_kib("VmHWM") - base_kib) * 1024
            method = "VmHWM after clear_refs"
        else:
            base_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            out_bytes = call()
            peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_kib) * 1024
            method = "ru_maxrss"
    result = dict(impl=a.impl, mode=a.mode, shape=[B, C, T, H, W], cout=cout, device=str(dev),
                  dtype=a.dtype, peak_bytes=int(peak), input_bytes=int(input_bytes),
                  output_bytes=int(out_bytes), method=method)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
