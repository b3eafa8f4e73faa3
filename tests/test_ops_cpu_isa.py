"""Every compiled copy of the CPU norm kernels is tested, not only the one this CPU picks:
the norm tests run again in child processes with ``BOOTVID_CPU_ISA`` capping the instruction
set (``default`` is the scalar copy, which evaluates math.h's shared formulas on every element,
as the CUDA kernels do)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bootvid import ops

HERE = os.path.dirname(os.path.abspath(__file__))
ORDER = ["default", "avx2", "avx512"]

pytestmark = pytest.mark.skipif(not ops.kernels_available(),
                                reason=f"compiled kernels not available ({ops.load_error()})")


def _lower_isas():
    best = ops.cpu_isa()
    return ORDER[:ORDER.index(best)] if best in ORDER else []


def test_native_isa_is_reported():
    assert ops.cpu_isa() in ORDER


@pytest.mark.parametrize("isa", ["default", "avx2"])
def test_norm_kernels_under_isa(isa):
    if isa not in _lower_isas():
        pytest.skip(f"this CPU's best ISA is {ops.cpu_isa()}: {isa} is what already ran")
    env = dict(os.environ, BOOTVID_CPU_ISA=isa)
    probe = subprocess.run([sys.executable, "-c", "from bootvid import ops; print(ops.cpu_isa())"],
                           env=env, capture_output=True, text=True, timeout=300)
    assert probe.stdout.strip() == isa, probe.stderr[-2000:]
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          os.path.join(HERE, "test_ops_norm.py")],
                         env=env, capture_output=True, text=True, timeout=1800, cwd=HERE)
    tail = run.stdout[-3000:] + run.stderr[-2000:]
    assert run.returncode == 0, f"norm tests failed with BOOTVID_CPU_ISA={isa}:\n{tail}"
    assert " passed" in run.stdout, tail
