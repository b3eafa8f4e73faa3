"""Run logs: scalars to ``log.jsonl`` (and TensorBoard when installed)."""

from __future__ import annotations

import json
import os
import time


class RunLogger:
    """Appends one JSON object per logged step to ``<run>/log.jsonl``; mirrors scalars to
    TensorBoard (``<run>/tensorboard``) if the ``tensorboard`` package is importable."""

    def __init__(self, run_dir: str, tensorboard: bool = True) -> None:
        self.path = os.path.join(run_dir, "log.jsonl")
        self._file = open(self.path, "a", encoding="utf-8")
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(os.path.join(run_dir, "tensorboard"))
            except Exception:  # noqa: BLE001 - tensorboard is optional
                self._tb = None

    def log(self, step: int, scalars: dict[str, float]) -> None:
        record = {"step": step, "time": round(time.time(), 3),
                  **{k: float(v) for k, v in scalars.items()}}
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if self._tb is not None:
            for k, v in scalars.items():
                self._tb.add_scalar(k, v, step)

    def event(self, step: int, message: str) -> None:
        self._file.write(json.dumps({"step": step, "time": round(time.time(), 3),
                                     "event": message}) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def read_log(run_dir: str) -> list[dict]:
    """The records of a run's ``log.jsonl``."""
    with open(os.path.join(run_dir, "log.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
