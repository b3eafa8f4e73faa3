"""One process or many: what ``torchrun`` sets up, seen from the trainer."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def mean(self, values: dict[str, float], device: torch.device) -> dict[str, float]:
        """``values`` averaged over the processes (one all-reduce)."""
        if not self.enabled or not values:
            return values
        keys = sorted(values)
        t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return {k: v / self.world_size for k, v in zip(keys, t.tolist())}

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every process when ``flag`` is true on any (stop decisions stay in step)."""
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())


def init_distributed(device: str) -> DistContext:
    """Join the process group ``torchrun`` describes (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_*);
    NCCL on GPUs, gloo on CPU. A single process needs no group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend, store=_round_store(rank, world),
                                rank=rank, world_size=world)
    return DistContext(rank=rank, world_size=world, local_rank=local)


def _round_store(rank: int, world: int):
    """The rendezvous store, with keys prefixed by torchrun's restart count: after an elastic
    restart the workers would otherwise read the dead round's gloo addresses from the agent's
    store and fail to connect ("Connection refused")."""
    restart = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    agent = os.environ.get("TORCHELASTIC_USE_AGENT_STORE", "").lower() == "true"
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world,
                          is_master=rank == 0 and not agent)
    # A process may join several groups in turn (`bootvid latents`, then training): every
    # rank does so in the same order, so a per-process count keeps their keys apart too.
    _INITS[0] += 1
    return dist.PrefixStore(f"bootvid/round{restart}/group{_INITS[0]}", store)


_INITS = [0]


def shutdown_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
