"""The switch between compiled kernels and reference twins: kernels_available(),
use_reference(), BOOTVID_REFERENCE_OPS, and the fallbacks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import pytest
import torch

import bootvid
from bootvid import ops
from helpers import assert_equal, bootvid_ops_in, cuda_param, needs_kernels, rand, record_ops


def test_kernels_available_in_the_built_package():
    assert ops.kernels_available(), (
        f"bootvid's compiled kernels did not load: {ops.load_error()} (build with `pip install .`)")
    assert ops.load_error() is None
    assert ops.kernels_available("cpu")
    assert ops.kernels_available(torch.device("cpu"))
    assert not ops.kernels_available("meta")
    import bootvid._C as C

    assert ops.kernels_available("cuda") == bool(C.with_cuda)
    for name in ("causal_conv3d", "group_norm_act", "adaptive_group_norm", "space_to_depth_3d",
                 "depth_to_space_3d"):
        assert hasattr(torch.ops.bootvid, name)


def test_reference_mode_switch():
    assert not ops.reference_mode() or os.environ.get("BOOTVID_REFERENCE_OPS")
    before = ops.reference_mode()
    with ops.use_reference():
        assert ops.reference_mode()
        with ops.use_reference(False):
            assert not ops.reference_mode()
        assert ops.reference_mode()
    assert ops.reference_mode() == before
    with pytest.raises(KeyError):
        with ops.use_reference():
            raise KeyError("restored on errors too")
    assert ops.reference_mode() == before


def test_use_reference_is_thread_local():
    seen = {}
    inside = threading.Event()
    done = threading.Event()

    def other():
        inside.wait()
        seen["other"] = ops.reference_mode()
        done.set()

    t = threading.Thread(target=other)
    t.start()
    with ops.use_reference():
        inside.set()
        done.wait(10)
        seen["this"] = ops.reference_mode()
    t.join()
    assert seen == {"this": True, "other": False}


def _all_ops(device="cpu", dtype=torch.float32):
    """Each public op once, on small inputs: name -> zero-argument callable."""
    x = rand(1, 8, 5, 6, 6, device=device, dtype=dtype, layout="channels_last")
    w = rand(8, 8, 3, 3, 3, device=device, dtype=dtype, seed=1, scale=0.2)
    g = rand(1, 8, 3, 3, 3, device=device, dtype=dtype, seed=2)
    return {
        "causal_conv3d": lambda: ops.causal_conv3d(x, w, None, (1, 1, 1), (1, 1))[0],
        "group_norm_act": lambda: ops.group_norm_act(x, 4, None, None),
        "adaptive_group_norm": lambda: ops.adaptive_group_norm(x, g, g, 4),
        "pixel_unshuffle_3d": lambda: ops.pixel_unshuffle_3d(x, (2, 2, 2)),
        "pixel_shuffle_3d": lambda: ops.pixel_shuffle_3d(x, (2, 2, 1)),
    }


@pytest.mark.parametrize("name", list(_all_ops()))
def test_use_reference_runs_the_reference(name):
    """Under use_reference() each op equals its reference twin exactly and dispatches no
    compiled op."""
    fn = _all_ops()[name]
    with ops.use_reference(), record_ops() as names:
        got = fn()
    assert bootvid_ops_in(names) == []
    # the same call, with ops.X replaced by ops.reference.X
    want = _call_reference(name)
    assert_equal(got, want, name)


def _call_reference(name):
    x = rand(1, 8, 5, 6, 6, layout="channels_last")
    w = rand(8, 8, 3, 3, 3, seed=1, scale=0.2)
    g = rand(1, 8, 3, 3, 3, seed=2)
    ref = ops.reference
    return {
        "causal_conv3d": lambda: ref.causal_conv3d(x, w, None, (1, 1, 1), (1, 1))[0],
        "group_norm_act": lambda: ref.group_norm_act(x, 4, None, None),
        "adaptive_group_norm": lambda: ref.adaptive_group_norm(x, g, g, 4),
        "pixel_unshuffle_3d": lambda: ref.pixel_unshuffle_3d(x, (2, 2, 2)),
        "pixel_shuffle_3d": lambda: ref.pixel_shuffle_3d(x, (2, 2, 1)),
    }[name]()


@needs_kernels
@pytest.mark.parametrize("name", list(_all_ops()))
def test_default_runs_the_kernel(name):
    with record_ops() as names:
        _all_ops()[name]()
    assert len(bootvid_ops_in(names)) == 1, names


_SCRIPT = textwrap.dedent("""
    import json, torch
    import bootvid
    from bootvid import ops
    from torch.utils._python_dispatch import TorchDispatchMode

    class Rec(TorchDispatchMode):
        names = []
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.names.append(str(func.name()))
            return func(*args, **(kwargs or {}))

    x = torch.randn(1, 8, 5, 6, 6)
    with Rec() as r:
        y = ops.group_norm_act(x, 4)
        z = ops.pixel_unshuffle_3d(x, (2, 2, 2))
    same = torch.equal(y, ops.reference.group_norm_act(x, 4))
    print(json.dumps({"mode": ops.reference_mode(), "available": ops.kernels_available(),
                      "bootvid_ops": sorted({n for n in r.names if n.startswith("bootvid::")}),
                      "equal_reference": same}))
""")


def _run_child(value):
    env = dict(os.environ)
    env.pop("BOOTVID_REFERENCE_OPS", None)
    if value is not None:
        env["BOOTVID_REFERENCE_OPS"] = value
    out = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("value", ["1", "ON"])
def test_env_var_selects_reference(value):
    r = _run_child(value)
    assert r["mode"] is True
    assert r["bootvid_ops"] == []
    assert r["equal_reference"] is True


@needs_kernels
@pytest.mark.parametrize("value", [None, "0"])
def test_env_var_off_runs_kernels(value):
    r = _run_child(value)
    assert r["mode"] is False and r["available"] is True
    assert r["bootvid_ops"] == ["bootvid::group_norm_act", "bootvid::space_to_depth_3d"]


def test_import_is_light():
    """`import bootvid` loads the ops, not the tokenizer / nn modules."""
    out = subprocess.run([sys.executable, "-c",
                          "import sys, bootvid; print(sorted(m for m in sys.modules "
                          "if m.startswith('bootvid.') and m.split('.')[1] in ('nn', 'tokenizer')))"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    assert bootvid.__version__


@pytest.mark.parametrize("device", ["cpu", cuda_param("cuda")])
def test_half_and_bf16_are_kernel_dtypes(device):
    """fp16 / bf16 / fp32 run the kernels on every device; float64 runs the CPU kernel and the
    CUDA reference."""
    if not ops.kernels_available(device):
        pytest.skip("no kernels")
    for dtype in (torch.float32, torch.bfloat16, torch.float16, torch.float64):
        x = rand(1, 8, 3, 4, 4, device=device, dtype=dtype)
        with record_ops() as names:
            ops.group_norm_act(x, 4)
        expect = [] if (dtype == torch.float64 and device == "cuda") else ["bootvid::group_norm_act"]
        assert bootvid_ops_in(names) == expect, dtype
