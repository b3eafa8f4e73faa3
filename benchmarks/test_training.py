"""Training-step benchmarks (pytest-benchmark): the convolution peak of this machine, one
tokenizer training step of the ``tiny`` and ``fast`` presets with FLOPs counted, model FLOP
utilisation and a profile by layer type and resolution level, and encode + decode per frame.

- ``test_conv_peak``: a 128 -> 128 3x3x3 ``causal_conv3d``, forward + backward, fp32 and
  bf16 (bf16 only where the CPU has it natively, or in the full run).
- ``test_train_step``: 4 clips of 17x64x64 (quick: 2 of 9x32x32), L1 + KL, AdamW; tiny in
  fp32, fast in fp32 and under bf16 autocast. ``extra_info``: flops, clips_per_s,
  gflops_per_s, mfu (over this run's peak of the dtype), speed_vs_tiny (clips/s over tiny
  fp32's, same run) and the profile (self time by layer type and by level).
- ``test_codec_frame``: encode + decode of 17x128x128 (quick: 9x64x64), seconds per frame,
  ``speed_vs_tiny``.

Targets (report): fast >= 5x tiny's clips/s, at >= 40% of the conv peak of its dtype; fast's
encode + decode per frame faster than tiny's. Run: ``pytest benchmarks/test_training.py``;
the profile alone: ``python benchmarks/step_profile.py --preset tiny``.
"""

from __future__ import annotations

import pytest
import torch

from bench_common import CUDA, MEDIANS, QUICK, adaptive_pedantic, env_info, median_s
from bootvid import ops
from bootvid.tokenizer import TokenizerConfig, VideoTokenizer, synthetic_video
from step_profile import PEAK_SHAPE, STEP_SHAPE, Step, conv_peak

if CUDA:
    pytest.skip("CPU training-step suite (the GPU step is in test_tokenizer.py)",
                allow_module_level=True)

NATIVE_BF16 = ops.cpu_has_native_bf16()
SHAPE = (2, 9, 32) if QUICK else STEP_SHAPE
CODEC_CLIP = (9, 64) if QUICK else (17, 128)
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def _skip_slow_bf16(precision: str) -> None:
    if precision == "bf16" and QUICK and not NATIVE_BF16:
        pytest.skip("bf16 is emulated on this CPU (no avx512_bf16 / AMX): minutes per step; "
                    "measured in the full run only")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_conv_peak(benchmark, precision):
    _skip_slow_bf16(precision)
    dtype = DTYPES[precision]
    shape = (1, 128, 5, 16) if QUICK else PEAK_SHAPE
    benchmark.group = "training/conv-peak"
    rounds = 1 if QUICK or (precision == "bf16" and not NATIVE_BF16) else 3
    out = {}
    benchmark.pedantic(lambda: out.setdefault("g", conv_peak(dtype, shape, rounds)),
                       rounds=1, iterations=1)
    MEDIANS[("peak", precision)] = out["g"]
    benchmark.extra_info.update(env_info(
        [shape[0], shape[1], shape[2], shape[3], shape[3]], dtype=precision, suite="training",
        table="peak", gflops_per_s=out["g"], native_bf16=NATIVE_BF16))


STEPS = [("tiny", "fp32"), ("fast", "fp32"), ("fast", "bf16")]


@pytest.mark.parametrize("preset, precision", STEPS, ids=[f"{p}-{q}" for p, q in STEPS])
def test_train_step(benchmark, preset, precision):
    _skip_slow_bf16(precision)
    step = Step(preset, SHAPE, bf16=precision == "bf16")
    flops = step.flops()
    profile = step.profile()
    benchmark.group = "training/step"
    slow = precision == "bf16" and not NATIVE_BF16
    adaptive_pedantic(benchmark, step, budget_s=2.0 if QUICK else 8.0,
                      max_rounds=3 if QUICK else 5, warm=not slow)
    med = median_s(benchmark)
    if med is None:  # --benchmark-disable: the case ran once, untimed
        return
    MEDIANS[("step", preset, precision)] = med
    B = SHAPE[0]
    peak = MEDIANS.get(("peak", precision))
    tiny = MEDIANS.get(("step", "tiny", "fp32"))
    benchmark.extra_info.update(env_info(
        [B, 3, SHAPE[1], SHAPE[2], SHAPE[2]], dtype=precision, suite="training", table="step",
        preset=preset, params_M=step.tok.num_parameters() / 1e6, flops=flops,
        clips_per_s=B / med, gflops_per_s=flops / med / 1e9,
        mfu=(flops / med / 1e9 / peak) if peak else None,
        peak_gflops_per_s=peak, speed_vs_tiny=(tiny / med) if tiny else None,
        native_bf16=NATIVE_BF16, profile=profile))


@pytest.mark.parametrize("preset", ["tiny", "fast"])
def test_codec_frame(benchmark, preset):
    frames, size = CODEC_CLIP
    torch.manual_seed(0)
    tok = VideoTokenizer(TokenizerConfig.preset(preset)).eval()
    x = synthetic_video(frames, size)

    def run():
        with torch.inference_mode():
            tok.decode(tok.encode(x).mode(), num_frames=frames)

    benchmark.group = "training/codec"
    adaptive_pedantic(benchmark, run, budget_s=1.0 if QUICK else 4.0, max_rounds=5)
    med = median_s(benchmark)
    if med is None:  # --benchmark-disable: the case ran once, untimed
        return
    MEDIANS[("codec", preset)] = med
    tiny = MEDIANS.get(("codec", "tiny"))
    benchmark.extra_info.update(env_info(
        [1, 3, frames, size, size], dtype="fp32", suite="training", table="codec", preset=preset,
        s_per_frame=med / frames, speed_vs_tiny=(tiny / med) if tiny else None))
