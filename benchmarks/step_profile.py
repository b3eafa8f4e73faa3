"""Where a tokenizer training step's time goes: FLOPs counted, time per layer type and per
resolution level, and the convolution peak of this machine to compare them with.

Used by ``benchmarks/test_training.py`` (which records the figures for BENCHMARKS.md) and runnable
on its own: ``python benchmarks/step_profile.py --preset tiny [--bf16]`` prints the tables.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections import defaultdict

import torch

from bootvid import ops
from bootvid.tokenizer import TokenizerConfig, VideoTokenizer

#: the step the issue measures: 4 clips of 17x64x64, L1 + KL, AdamW
STEP_SHAPE = (4, 17, 64)
#: the conv the peak is taken on: 128 -> 128 channels, 3x3x3, fwd + bwd at 4x17x16x16 (the
#: size of the fast preset's first level)
PEAK_SHAPE = (4, 128, 17, 16)


def autocast(bf16: bool):
    return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def best_time(fn, rounds: int = 3) -> float:
    """Best of ``rounds`` timed calls after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def conv_peak(dtype: torch.dtype, shape=PEAK_SHAPE, rounds: int = 3) -> float:
    """GFLOP/s of a 128-channel 3x3x3 conv forward + backward (input and weight gradients) in
    ``dtype`` through bootvid's ``causal_conv3d`` (oneDNN underneath; in bf16 its weight
    gradient is taken in fp32, as in training): the best rate the model's convs can reach."""
    B, C, T, S = shape
    g = torch.Generator().manual_seed(0)
    x = torch.randn(B, C, T, S, S, generator=g).to(dtype).requires_grad_()
    w = (torch.randn(C, C, 3, 3, 3, generator=g) * 0.02).to(dtype).requires_grad_()

    def run():
        y, _ = ops.causal_conv3d(x, w, None, (1, 1, 1), (1, 1))
        y.backward(torch.ones_like(y))

    return 3 * 2 * 27 * C * C * B * T * S * S / best_time(run, rounds) / 1e9


class Step:
    """One training step of ``preset`` at ``shape`` (batch, frames, size): forward, L1 + KL,
    backward, AdamW; ``bf16`` runs the model under bf16 autocast."""

    def __init__(self, preset: str, shape=STEP_SHAPE, bf16: bool = False, seed: int = 0,
                 **overrides) -> None:
        torch.manual_seed(seed)
        B, T, S = shape
        self.preset, self.shape, self.bf16 = preset, shape, bf16
        self.tok = VideoTokenizer(TokenizerConfig.preset(preset, **overrides)).train()
        g = torch.Generator().manual_seed(seed)
        self.x = torch.rand(B, 3, T, S, S, generator=g) * 2 - 1
        self.opt = torch.optim.AdamW(self.tok.parameters(), lr=1e-4)

    def __call__(self) -> float:
        with autocast(self.bf16):
            recon, post = self.tok(self.x)
            loss = (recon.float() - self.x).abs().mean() + 1e-6 * post.kl().float().mean()
        loss.backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return float(loss.detach())

    def flops(self) -> float:
        """FLOPs of one step, counted by ``FlopCounterMode`` on the reference ops (bootvid's
        kernels compute the same convolutions; custom ops are invisible to the counter)."""
        from torch.utils.flop_counter import FlopCounterMode

        state = {k: v.clone() for k, v in self.tok.state_dict().items()}
        bf16, self.bf16 = self.bf16, False  # same count; keeps plain F.conv3d out of bf16
        try:
            with ops.use_reference(), FlopCounterMode(display=False) as counter:
                self()
        finally:
            self.bf16 = bf16
        self.tok.load_state_dict(state)  # the counted step must not change later timings
        self.opt = torch.optim.AdamW(self.tok.parameters(), lr=1e-4)
        return float(counter.get_total_flops())

    def profile(self) -> dict:
        """Self CPU time (s) of one step by layer type and by resolution level, from
        torch.profiler. The level is the H x W of the first 5-D tensor of the op: the input of
        a forward op, the output gradient of a backward op (so a strided conv's backward
        counts at its output's size)."""
        from torch.profiler import ProfilerActivity, profile

        self()  # warm
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            self()
        kinds = {"conv": "conv", "group_norm": "norm", "depth_to_space": "shuffle",
                 "space_to_depth": "shuffle", "Optimizer": "optimizer", "AdamW": "optimizer"}
        by_kind: dict[str, float] = defaultdict(float)
        by_level: dict[str, float] = defaultdict(float)
        total = 0.0
        for ev in prof.events():
            # every op's own time, attributed to the nearest enclosing op that names a layer
            # type (e.g. aten::mkldnn_convolution inside bootvid::causal_conv3d) and to the
            # spatial size of the first 5-D input found on the way up
            t = ev.self_cpu_time_total / 1e6
            total += t
            kind = level = None
            node = ev
            while node is not None and (kind is None or level is None):
                if kind is None:
                    kind = next((v for k, v in kinds.items() if k in node.name), None)
                if level is None and kind is not None:
                    shapes = [s for s in (node.input_shapes or [])
                              if isinstance(s, list) and len(s) == 5]
                    if shapes:
                        level = f"{shapes[0][3]}x{shapes[0][4]}"
                node = node.cpu_parent
            by_kind[kind or "other"] += t
            if kind in ("conv", "norm", "shuffle"):
                by_level[level or "?"] += t
        return {"total_s": total, "by_kind": dict(by_kind), "by_level": dict(by_level)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="tiny")
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args(argv)
    peak = conv_peak(torch.bfloat16 if a.bf16 else torch.float32)
    step = Step(a.preset, bf16=a.bf16)
    flops = step.flops()
    t = best_time(step, a.rounds)
    prof = step.profile()
    B = step.shape[0]
    print(f"{a.preset} {'bf16' if a.bf16 else 'fp32'}: {flops / 1e9:.0f} GFLOP/step, "
          f"{t:.3f} s/step, {B / t:.2f} clips/s, {flops / t / 1e9:.0f} GFLOP/s = "
          f"{100 * flops / t / 1e9 / peak:.0f}% of the conv peak {peak:.0f} GFLOP/s")
    for name, table in (("layer type", prof["by_kind"]), ("level", prof["by_level"])):
        print(f"\nby {name}:")
        for k, v in sorted(table.items(), key=lambda kv: -kv[1]):
            print(f"  {k:12s} {v * 1e3:8.1f} ms  {100 * v / prof['total_s']:5.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
