"""Loading the compiled kernels, and the switch between kernels and reference twins."""

from __future__ import annotations

import contextlib
import os
import threading
import warnings

import torch

_C = None
_load_error: str | None = None
try:  # the extension registers torch.ops.bootvid.* when imported
    from bootvid import _C  # type: ignore[attr-defined,no-redef]
except ImportError as e:  # a broken or missing build must not break the library
    _load_error = str(e)
    warnings.warn(
        "bootvid: the compiled kernels (bootvid._C) could not be loaded, so the pure-PyTorch "
        f"reference ops are used instead (slower). Reason: {e}. Reinstall with `pip install .` "
        "to build them.",
        RuntimeWarning,
        stacklevel=2,
    )


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


_state = threading.local()
_default_reference = _env_flag("BOOTVID_REFERENCE_OPS")


def reference_mode() -> bool:
    """True while bootvid runs every op on its pure-PyTorch reference twin."""
    return getattr(_state, "reference", _default_reference)


@contextlib.contextmanager
def use_reference(enabled: bool = True):
    """Run bootvid's ops on their reference twins inside this block (thread-local).

    ``BOOTVID_REFERENCE_OPS=1`` in the environment makes that the default.
    """
    previous = reference_mode()
    _state.reference = bool(enabled)
    try:
        yield
    finally:
        _state.reference = previous


def kernels_available(device: str | torch.device | None = None) -> bool:
    """Whether compiled kernels exist for ``device`` (default: any device, i.e. the CPU ones).

    False when the extension failed to load or, for CUDA, was built without CUDA kernels.
    """
    if _C is None:
        return False
    if device is None:
        return True
    dev = torch.device(device)
    if dev.type == "cpu":
        return True
    if dev.type == "cuda":
        return bool(getattr(_C, "with_cuda", 0))
    return False


def cpu_isa() -> str | None:
    """The instruction set of the CPU norm kernels in this process: ``"default"`` (scalar),
    ``"avx2"`` or ``"avx512"``; the best the CPU has unless ``BOOTVID_CPU_ISA`` caps it. None
    without the compiled kernels."""
    return getattr(_C, "cpu_isa", None) if _C is not None else None


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX-BF16), where oneDNN's bf16
    convs run about twice as fast as fp32; elsewhere they are emulated and far slower (measured
    30-100x slower than fp32 on an AVX2 EPYC). Linux reads /proc/cpuinfo; False elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def load_error() -> str | None:
    """Why the compiled kernels are unavailable (None when they loaded)."""
    return _load_error


def use_kernel(x: torch.Tensor) -> bool:
    """Whether an op on ``x`` should run the compiled kernel."""
    return not reference_mode() and kernels_available(x.device)
