"""Training checkpoints: one ``step_XXXXXXXX.pt`` file per save under ``<run>/checkpoints``.

Each is written atomically (temporary file, fsync, rename), so a crash or SIGKILL mid-write
leaves the previous checkpoints intact. Files hold tensors and plain Python values only and
are read back with ``torch.load(weights_only=True)``: nothing is unpickled.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import warnings

import torch

from ..fileio import atomic_write

CHECKPOINT_DIR = "checkpoints"
_NAME = re.compile(r"^step_(\d{8})\.pt$")
# What atomic_write leaves behind when the process is killed mid-write (SIGKILL, power loss).
_PARTIAL = re.compile(r"^\.step_\d{8}\.pt\..+\.tmp$")


def checkpoint_path(run_dir: str, step: int) -> str:
    return os.path.join(run_dir, CHECKPOINT_DIR, f"step_{step:08d}.pt")


def list_checkpoints(run_dir: str) -> list[tuple[int, str]]:
    """``(step, path)`` of the run's checkpoints, oldest first."""
    d = os.path.join(run_dir, CHECKPOINT_DIR)
    if not os.path.isdir(d):
        return []
    found = [(int(m.group(1)), os.path.join(d, name))
             for name in os.listdir(d) if (m := _NAME.match(name))]
    return sorted(found)


def save_checkpoint(run_dir: str, step: int, state: dict, keep: int) -> str:
    """Write ``state`` as the checkpoint of ``step`` and delete all but the newest ``keep``."""
    path = checkpoint_path(run_dir, step)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        atomic_write(path, lambda p: torch.save(state, p))
    except (OSError, RuntimeError) as e:
        # Say which file, how much room its disk has left and that nothing older is lost. A
        # full disk reaches us as torch.save's RuntimeError ("unexpected pos ...") as often as
        # an OSError.
        why = (e.strerror if isinstance(e, OSError) and e.strerror else str(e)).strip()
        raise OSError(getattr(e, "errno", None) or errno.EIO,
                      f"writing the checkpoint {path} failed ({why}; "
                      f"{_free_space(os.path.dirname(path))} free on its disk); the previous "
                      f"checkpoints in {os.path.dirname(path)} are intact") from e
    for _, old in list_checkpoints(run_dir)[:-keep]:
        try:
            os.unlink(old)
        except OSError:
            pass
    return path


def _free_space(directory: str) -> str:
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return "unknown space"
    return f"{free / 1e9:.1f} GB" if free >= 1e9 else f"{free / 1e6:.1f} MB"


def remove_partial_writes(run_dir: str) -> list[str]:
    """Delete the temporary files of checkpoint writes that a killed process left behind;
    returns their paths."""
    d = os.path.join(run_dir, CHECKPOINT_DIR)
    removed = []
    for name in os.listdir(d) if os.path.isdir(d) else []:
        if _PARTIAL.match(name):
            try:
                os.unlink(os.path.join(d, name))
                removed.append(os.path.join(d, name))
            except OSError:
                pass
    return removed


def load_latest_checkpoint(run_dir: str) -> tuple[int, dict] | None:
    """The newest checkpoint that loads; unreadable ones are reported and skipped, never
    deleted. None when the run has no checkpoint."""
    for step, path in reversed(list_checkpoints(run_dir)):
        try:
            return step, torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable file: fall back to an older one
            warnings.warn(f"checkpoint {path} cannot be read ({type(e).__name__}: {e}); trying "
                          "the previous one", stacklevel=2)
    return None


#: Checkpoint entries holding optimizer state: what a packed checkpoint leaves out.
OPTIMIZER_KEYS = ("optimizer", "disc_optimizer")


def pack_state(state: dict, dtype: torch.dtype = torch.bfloat16) -> dict:
    """A checkpoint small enough to carry to another machine or commit: the optimizer state
    left out (about half of a checkpoint) and floating-point weights stored in ``dtype``.

    Resuming from it continues the run at its step, schedule, EMA and data order, with a fresh
    optimizer whose learning rate is re-warmed (:class:`~bootvid.train.loop.TrainingLoop`).
    """
    def cast(value):
        if isinstance(value, torch.Tensor):
            return value.to(dtype) if value.is_floating_point() else value
        if isinstance(value, dict):
            return {k: cast(v) for k, v in value.items()}
        return value

    dropped = [k for k in OPTIMIZER_KEYS if state.get(k) is not None]
    packed = {k: cast(v) for k, v in state.items() if k not in OPTIMIZER_KEYS}
    packed["packed"] = {"step": int(state["step"]), "dtype": str(dtype).replace("torch.", ""),
                        "dropped": dropped}
    return packed


def pack_run(run_dir: str, out_dir: str, dtype: torch.dtype = torch.bfloat16) -> tuple[int, str]:
    """Write ``out_dir``: a run directory holding ``run_dir``'s newest checkpoint packed
    (:func:`pack_state`) and its top-level files (config, log, curves), which
    ``--resume`` continues like the original. Returns ``(step, checkpoint path)``."""
    if os.path.abspath(out_dir) == os.path.abspath(run_dir):
        raise ValueError("pack: the output must be another directory than the run")
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        raise FileExistsError(f"pack: {out_dir} is not empty")
    if not list_checkpoints(run_dir):
        raise FileNotFoundError(f"pack: {run_dir} has no checkpoint ({CHECKPOINT_DIR}/step_*.pt)")
    found = load_latest_checkpoint(run_dir)
    if found is None:
        raise RuntimeError(f"pack: no checkpoint in {run_dir} could be read")
    step, state = found
    os.makedirs(out_dir, exist_ok=True)
    for name in sorted(os.listdir(run_dir)):
        src = os.path.join(run_dir, name)
        if os.path.isfile(src) and not name.startswith("."):
            shutil.copy2(src, os.path.join(out_dir, name))
    return step, save_checkpoint(out_dir, step, pack_state(state, dtype), keep=1)
