"""Benchmark-suite plumbing: run the suites in an order where each comparison's baseline comes
first (the tokenizer suite before the peers, which reuse bootvid's medians), and record in the
``--benchmark-json`` file what the report needs to say how the figures were made: the exact
command, the mode and device, torch's version and threads, the start time, the duration and
the load average at the start and the end (another workload on the machine shows there)."""

from __future__ import annotations

import os
import shlex
import sys
import time
from datetime import datetime, timezone

import torch

ORDER = ["test_ops.py", "test_tokenizer.py", "test_memory.py", "test_peers.py", "test_dit.py",
         "test_data.py", "test_training.py"]
_START = {"t": time.time(), "load": None}


def _loadavg():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def pytest_sessionstart(session):
    _START["t"] = time.time()
    _START["load"] = _loadavg()


def pytest_collection_modifyitems(session, config, items):
    def rank(item):
        name = os.path.basename(str(item.fspath))
        return ORDER.index(name) if name in ORDER else len(ORDER)

    items.sort(key=rank)  # stable: the order inside each file is kept


def _command() -> str:
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(os.environ.items())
                   if k.startswith("BOOTVID_BENCH_") or k in ("OMP_NUM_THREADS",))
    argv = list(sys.argv)
    if argv and argv[0].endswith(("pytest", "pytest/__main__.py", "__main__.py")):
        argv = ["python", "-m", "pytest", *argv[1:]]
    return " ".join(filter(None, [env, " ".join(shlex.quote(a) for a in argv)]))


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["torch"] = torch.__version__
    machine_info["torch_threads"] = torch.get_num_threads()
    machine_info["cpu_count"] = os.cpu_count()
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
        machine_info["memory_gib"] = round(kib / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        machine_info["cuda_device"] = p.name
        machine_info["cuda_memory_gib"] = round(p.total_memory / 2**30, 1)
        machine_info["cuda_version"] = torch.version.cuda
    try:
        from bootvid import ops

        machine_info["bootvid_kernels"] = ops.kernels_available()
        machine_info["bootvid_cpu_isa"] = ops.cpu_isa()
    except Exception as e:  # noqa: BLE001 - informational only
        machine_info["bootvid_kernels"] = f"unavailable: {e}"


def pytest_benchmark_update_json(config, benchmarks, output_json):
    from bench_common import DEVICE, MODE

    try:
        import diffusers

        peers = diffusers.__version__
    except ImportError:
        peers = None
    output_json["bootvid"] = dict(
        command=_command(), mode=MODE, device=str(DEVICE),
        started=datetime.fromtimestamp(_START["t"], timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        duration_s=round(time.time() - _START["t"], 1), diffusers=peers,
        loadavg_start=_START["load"], loadavg_end=_loadavg())
