"""What the benchmark suites share: the mode (quick / full), the device, the ``extra_info`` every
benchmark records, timing helpers, and the medians measured earlier in the same run (so that a
comparison reuses its baseline instead of measuring it twice).

Environment:
- ``BOOTVID_BENCH_QUICK=1``: small shapes and few rounds (CI: the whole suite in a few minutes).
- ``BOOTVID_BENCH_DEVICE``: ``cpu`` (default; fp32) or ``cuda`` (bf16 autocast for the models,
  tokenizer-sized shapes; the timed functions end with ``torch.cuda.synchronize()``).
"""

from __future__ import annotations

import contextlib
import os
import time

import torch


def flag(name: str, default: bool = False) -> bool:
    v = os.environ.get(name, "").strip().lower()
    return default if v == "" else v in {"1", "true", "yes", "on"}


QUICK = flag("BOOTVID_BENCH_QUICK")
DEVICE = torch.device(os.environ.get("BOOTVID_BENCH_DEVICE", "cpu").strip() or "cpu")
CUDA = DEVICE.type == "cuda"
#: what the models compute in: fp32 on CPU, bf16 autocast on CUDA
DTYPE_NAME = "bf16-autocast" if CUDA else "float32"
MODE = "quick" if QUICK else "full"
#: (frames, size) of the clip the 4x presets and the peers are timed on
PRESET_CLIP = (33, 256) if CUDA else ((17, 64) if QUICK else (17, 128))

#: medians (seconds) measured earlier in this run, keyed by the suite's own tuples
MEDIANS: dict[tuple, float] = {}


def skip_if_no_cuda():
    import pytest

    if CUDA and not torch.cuda.is_available():
        pytest.skip("BOOTVID_BENCH_DEVICE=cuda but no GPU", allow_module_level=True)


def sync() -> None:
    if CUDA:
        torch.cuda.synchronize()


def autocast():
    """bf16 autocast on CUDA, nothing on CPU (fp32)."""
    if CUDA:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def env_info(shape, dtype: str | None = None, **kw) -> dict:
    """The fields every benchmark records: shape, dtype, device, threads, mode."""
    return dict(shape=list(shape), dtype=dtype or DTYPE_NAME, device=str(DEVICE),
                threads=torch.get_num_threads(), quick=QUICK, **kw)


def timed_call(fn) -> float:
    """Seconds of one call of ``fn`` (synchronised on CUDA)."""
    t0 = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t0


def median_s(benchmark) -> float | None:
    """The timed median in seconds; None under ``--benchmark-disable``, where pytest-benchmark
    runs each case once as a plain test and keeps no statistics (callers then skip their
    ratios and records)."""
    stats = getattr(benchmark, "stats", None)
    return stats.stats.median if stats is not None else None


def adaptive_pedantic(benchmark, fn, budget_s: float, max_rounds: int = 7,
                      long_call_s: float = 8.0, warm: bool = True) -> float | None:
    """Warm ``fn`` up with one call (unless ``warm`` is False: the caller already ran it),
    then time as many rounds as fit in ``budget_s`` (1 to ``max_rounds``). A call longer
    than ``long_call_s`` gets one timed round. Returns the warm-up call's seconds (None
    without one); ``extra_info["rounds"]`` says how many rounds were timed."""
    first = timed_call(fn) if warm else None
    if first is None:
        rounds = 1
    elif first > long_call_s:
        rounds = 1
    else:
        rounds = max(1, min(max_rounds, int(budget_s / max(first, 1e-6))))
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0)
    benchmark.extra_info["rounds"] = rounds
    benchmark.extra_info["warmed_up"] = warm
    return first


def best_time(fn, rounds: int = 1) -> float:
    """Best of ``rounds`` timed calls after one warm-up (a baseline measured outside
    pytest-benchmark, when the suite that owns it did not run)."""
    fn()
    sync()
    return min(timed_call(fn) for _ in range(rounds))
