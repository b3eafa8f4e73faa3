"""Op benchmarks (pytest-benchmark): each bootvid op vs its eager PyTorch composite
(benchmarks/op_baselines.py) and vs torch.compile of that composite, forward and
forward+backward, on a tokenizer-sized shape; plus a plain tensor copy of the same bytes (the
bandwidth yardstick of the memory-bound ops) and the peak memory of causal_conv3d vs
F.pad + conv3d (in child processes, benchmarks/peak_memory.py).

Every benchmark is in group ``<op>/<pass>`` and records in ``extra_info``: suite="ops", op,
variant (kernel / eager / compiled / copy), pass (fwd / fwd+bwd), shape, dtype, device,
threads, bytes_moved (the least traffic the computation needs: each input read once, each
output written once), and for the kernel its ratio to the eager and compiled composites
measured earlier in the same run. ``python -m benchmarks.report RUN.json`` turns a
``--benchmark-json`` file into the tables with the targets.

Environment:
- ``BOOTVID_BENCH_DEVICE``: ``cpu`` (default; fp32) or ``cuda`` (bf16; the timed functions
  end with ``torch.cuda.synchronize()``).
- ``BOOTVID_BENCH_QUICK=1``: a small shape, 3 rounds, no compiled composite on CPU (CI).
- ``BOOTVID_BENCH_COMPILE=0/1``: force the compiled-composite variant off / on.

Run: ``pytest benchmarks/test_ops.py --benchmark-json=ops.json && python -m benchmarks.report ops.json``
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

import op_baselines as base
from bench_common import median_s
from bootvid import ops


def _flag(name, default=False):
    v = os.environ.get(name, "").strip().lower()
    return default if v == "" else v in {"1", "true", "yes", "on"}


QUICK = _flag("BOOTVID_BENCH_QUICK")
DEVICE = torch.device(os.environ.get("BOOTVID_BENCH_DEVICE", "cpu").strip() or "cpu")
CUDA = DEVICE.type == "cuda"
DTYPE = torch.bfloat16 if CUDA else torch.float32
COMPILE = _flag("BOOTVID_BENCH_COMPILE", default=CUDA or not QUICK)
SHAPE = (1, 32, 9, 32, 32) if QUICK else (1, 128, 17, 64, 64)  # B, C, T, H, W
GROUPS = 8 if QUICK else 32
ROUNDS = 3 if QUICK else (20 if CUDA else 7)
CONV_ROUNDS = 3 if QUICK else (20 if CUDA else 5)
FACTORS = (2, 2, 2)

if CUDA and not torch.cuda.is_available():
    pytest.skip("BOOTVID_BENCH_DEVICE=cuda but no GPU", allow_module_level=True)
if not ops.kernels_available(DEVICE):
    pytest.skip(f"bootvid's kernels are not available on {DEVICE}: {ops.load_error()}",
                allow_module_level=True)

VARIANTS = ["eager", "compiled", "kernel"]  # kernel last: its ratios use the others' medians
PASSES = ["fwd", "fwd+bwd"]
_medians: dict[tuple, float] = {}  # (op, pass, variant) -> median seconds
_compiled: dict[str, object] = {}


def _rand(*shape, seed=0, scale=1.0, offset=0.0, grad=False):
    g = torch.Generator().manual_seed(seed)
    t = (torch.randn(*shape, generator=g) * scale + offset).to(DEVICE, DTYPE)
    return t.requires_grad_(grad)


def _nbytes(*tensors):
    return sum(t.numel() * t.element_size() for t in tensors if t is not None)


def _sync():
    if CUDA:
        torch.cuda.synchronize()


# ---- the problems: inputs, the three implementations, bytes moved ----------------------

def conv_problem(grad):
    B, C, T, H, W = SHAPE
    x = _rand(*SHAPE, grad=grad)
    w = _rand(C, C, 3, 3, 3, seed=1, scale=(C * 27) ** -0.5, grad=grad)
    b = _rand(C, seed=2, grad=grad)
    impl = {
        "kernel": lambda x, w, b: ops.causal_conv3d(x, w, b, (1, 1, 1), (1, 1))[0],
        "eager": lambda x, w, b: base.causal_conv3d(x, w, b, (1, 1, 1), (1, 1))[0],
    }
    y_bytes = _nbytes(x)  # C_out = C_in, same T, H, W
    return (x, w, b), impl, {"fwd": _nbytes(x, w, b) + y_bytes,
                             "fwd+bwd": 2 * (_nbytes(x, w, b) + y_bytes) + _nbytes(x, w, b) + y_bytes}


def gn_problem(grad):
    C = SHAPE[1]
    x = _rand(*SHAPE, grad=grad)
    w = _rand(C, seed=1, offset=1.0, scale=0.1, grad=grad)
    b = _rand(C, seed=2, scale=0.1, grad=grad)
    impl = {
        "kernel": lambda x, w, b: ops.group_norm_act(x, GROUPS, w, b),
        "eager": lambda x, w, b: base.group_norm_act(x, GROUPS, w, b),
    }
    n = _nbytes(x)
    # fwd: read x, write y; bwd: read x, grad_y, write grad_x (the parameters are tiny)
    return (x, w, b), impl, {"fwd": 2 * n, "fwd+bwd": 5 * n}


def agn_problem(grad):
    B, C, T, H, W = SHAPE
    Tl = 1 + (T - 1) // 4  # a latent 4x shorter in time and 2x smaller in space
    x = _rand(*SHAPE, grad=grad)
    g = _rand(B, C, Tl, H // 2, W // 2, seed=1, scale=0.2, grad=grad)
    bt = _rand(B, C, Tl, H // 2, W // 2, seed=2, scale=0.2, grad=grad)
    impl = {
        "kernel": lambda x, g, bt: ops.adaptive_group_norm(x, g, bt, GROUPS),
        "eager": lambda x, g, bt: base.adaptive_group_norm(x, g, bt, GROUPS),
    }
    n, m = _nbytes(x), _nbytes(g)
    # fwd: read x, gamma, beta, write y; bwd: read x, grad_y, gamma, write grad_x, grad_gamma,
    # grad_beta
    return (x, g, bt), impl, {"fwd": 2 * n + 2 * m, "fwd+bwd": 2 * n + 2 * m + 3 * n + 3 * m}


def unshuffle_problem(grad):
    x = _rand(*SHAPE, grad=grad)
    impl = {
        "kernel": lambda x: ops.pixel_unshuffle_3d(x, FACTORS),
        "eager": lambda x: base.pixel_unshuffle_3d(x, FACTORS),
    }
    B, C, T, H, W = SHAPE
    out = B * C * (T + FACTORS[0] - 1) * H * W * x.element_size()
    io = _nbytes(x) + out
    return (x,), impl, {"fwd": io, "fwd+bwd": 2 * io}


def shuffle_problem(grad):
    B, C, T, H, W = SHAPE
    ft, fh, fw = FACTORS
    z = _rand(B, C * ft * fh * fw, (T - 1) // ft + 1, H // fh, W // fw, grad=grad)
    impl = {
        "kernel": lambda z: ops.pixel_shuffle_3d(z, FACTORS),
        "eager": lambda z: base.pixel_shuffle_3d(z, FACTORS),
    }
    io = _nbytes(z) + B * C * T * H * W * z.element_size()
    return (z,), impl, {"fwd": io, "fwd+bwd": 2 * io}


PROBLEMS = {
    "causal_conv3d": conv_problem,
    "group_norm_act": gn_problem,
    "adaptive_group_norm": agn_problem,
    "pixel_unshuffle_3d": unshuffle_problem,
    "pixel_shuffle_3d": shuffle_problem,
}


def _impl(op, variant, impl):
    if variant != "compiled":
        return impl[variant]
    if op not in _compiled:
        _compiled[op] = torch.compile(impl["eager"], fullgraph=True, dynamic=False)
    return _compiled[op]


def _timed(fn, args, pass_):
    if pass_ == "fwd":
        def run():
            with torch.inference_mode():
                fn(*args)
            _sync()
    else:
        def run():
            y = fn(*args)
            torch.autograd.grad(y, args, torch.ones_like(y))
            _sync()
    return run


def _info(benchmark, **kw):
    benchmark.extra_info.update(
        suite="ops", shape=list(SHAPE), dtype=str(DTYPE).replace("torch.", ""),
        device=str(DEVICE), threads=torch.get_num_threads(), quick=QUICK, **kw)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("pass_", PASSES)
@pytest.mark.parametrize("op", list(PROBLEMS))
def test_op(benchmark, op, pass_, variant):
    if variant == "compiled" and not COMPILE:
        pytest.skip("compiled composite off (quick mode on CPU; BOOTVID_BENCH_COMPILE=1 forces it)")
    args, impl, nbytes = PROBLEMS[op](grad=pass_ == "fwd+bwd")
    fn = _impl(op, variant, impl)
    benchmark.group = f"{op}/{pass_}"
    rounds = CONV_ROUNDS if op == "causal_conv3d" else ROUNDS
    benchmark.pedantic(_timed(fn, args, pass_), rounds=rounds, iterations=1, warmup_rounds=1)
    median = median_s(benchmark)
    if median is None:  # --benchmark-disable: the case ran once, untimed
        return
    _medians[(op, pass_, variant)] = median
    info = dict(op=op, variant=variant, **{"pass": pass_}, bytes_moved=nbytes[pass_],
                gbps=nbytes[pass_] / median / 1e9)
    if variant == "kernel":
        for other in ("eager", "compiled"):
            if (op, pass_, other) in _medians:
                info[f"speedup_vs_{other}"] = _medians[(op, pass_, other)] / median
    _info(benchmark, **info)


@pytest.mark.parametrize("variant", ["copy", "clone"])
def test_copy(benchmark, variant):
    """The bandwidth yardsticks of one video of SHAPE (read + write): ``dst.copy_(src)`` into a
    buffer reused across rounds (on this CPU's large L3 it may stay cached), and
    ``src.clone()``, a copy into fresh memory, which is what an op returning a new tensor pays
    (on CPU, large fresh allocations come from mmap and page-fault on first touch)."""
    src = _rand(*SHAPE)
    dst = torch.empty_like(src)

    def run():
        if variant == "copy":
            dst.copy_(src)
        else:
            src.clone()
        _sync()

    benchmark.group = "copy"
    benchmark.pedantic(run, rounds=max(ROUNDS, 10), iterations=1, warmup_rounds=2)
    nbytes = 2 * _nbytes(src)
    med = median_s(benchmark)
    if med is None:  # --benchmark-disable: the case ran once, untimed
        return
    _info(benchmark, op="copy", variant=variant, **{"pass": "fwd"}, bytes_moved=nbytes,
          gbps=nbytes / med / 1e9)


_HERE = os.path.dirname(os.path.abspath(__file__))


def _peak(impl, mode):
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    cmd = [sys.executable, os.path.join(_HERE, "peak_memory.py"), "--impl", impl, "--mode", mode,
           "--shape", ",".join(map(str, SHAPE)), "--device", str(DEVICE),
           "--dtype", str(DTYPE).replace("torch.", "")]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("pass_", PASSES)
def test_causal_conv3d_peak_memory(benchmark, pass_):
    """Peak memory of one causal_conv3d call, kernel vs F.pad + conv3d, in child processes."""
    res = {}

    def run():
        res["kernel"] = _peak("kernel", pass_)
        res["eager"] = _peak("eager", pass_)

    benchmark.group = "causal_conv3d/peak_memory"
    benchmark.pedantic(run, rounds=1, iterations=1)
    k, e = res["kernel"]["peak_bytes"], res["eager"]["peak_bytes"]
    _info(benchmark, op="causal_conv3d", variant="peak_memory", **{"pass": pass_},
          peak_bytes_kernel=k, peak_bytes_eager=e, peak_ratio_eager_over_kernel=e / max(k, 1),
          input_bytes=res["kernel"]["input_bytes"], output_bytes=res["kernel"]["output_bytes"],
          method=res["kernel"]["method"])
