"""Two processes under torchrun (gloo, CPU) compute the gradient one process computes over the
same global batch, and write the run directory once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from bootvid.train import Trainer
from bootvid.train.checkpoint import list_checkpoints

from train_helpers import FixedClips, tiny_config

_SCRIPT = textwrap.dedent("""
    import os, sys
    import torch
    sys.path.insert(0, {here!r})
    from train_helpers import FixedClips, tiny_config
    from bootvid.train import Trainer
    from bootvid.train.sampler import StepSampler

    out = sys.argv[1]
    ds = FixedClips()
    cfg = tiny_config(**{{"run.batch_size": 1, "run.max_steps": 2}})
    t = Trainer(cfg, os.path.join(out, "run"), dataset=ds, progress=False)
    assert t.dist.world_size == 2, t.dist
    idx = StepSampler(1, t.dist.rank, t.dist.world_size).indices(0)
    t.forward_backward(idx, torch.stack([ds[i] for i in idx]))
    torch.save({{n: p.grad for n, p in t.named_trainable}},
               os.path.join(out, f"grads{{t.dist.rank}}.pt"))
    t.optimizer.zero_grad()
    t.run()
""")


def _torchrun_two(script_text: str, tmp_path) -> None:
    """Run ``script_text`` (formatted with ``here``, this folder) in 2 processes with
    ``tmp_path`` as its argument; fail with its output if it fails."""
    here = os.path.dirname(os.path.abspath(__file__))
    script = tmp_path / "ddp.py"
    script.write_text(script_text.format(here=here))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                        "--nproc_per_node=2", str(script), str(tmp_path)],
                       capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]


def test_two_process_gradient_equals_single_process_gradient(tmp_path):
    _torchrun_two(_SCRIPT, tmp_path)

    ds = FixedClips()
    t = Trainer(tiny_config(**{"run.batch_size": 2}), tmp_path / "single", dataset=ds,
                progress=False)
    t.forward_backward([0, 1], torch.stack([ds[0], ds[1]]))
    g0 = torch.load(tmp_path / "grads0.pt", weights_only=True)
    g1 = torch.load(tmp_path / "grads1.pt", weights_only=True)
    assert len(g0) == len(t.named_trainable)
    for n, p in t.named_trainable:
        assert torch.equal(g0[n], g1[n]), n  # DDP: both ranks hold the averaged gradient
        torch.testing.assert_close(g0[n], p.grad, rtol=1e-4, atol=1e-7, msg=n)
    # rank 0 alone wrote the run: checkpoints, one log, the models
    run = tmp_path / "run"
    assert [s for s, _ in list_checkpoints(str(run))] == [2]
    log = (run / "log.jsonl").read_text().splitlines()
    assert sum('"step": 2,' in line and '"loss"' in line for line in log) == 1
    assert os.path.isfile(run / "model" / "model.safetensors")
    assert "world size 2" in log[0]


_MIXED_SCRIPT = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {here!r})
    from train_helpers import tiny_config
    from bootvid.train import Trainer
    from test_trainer import MIXED

    cfg = tiny_config(**{{**MIXED, "run.batch_size": 2, "run.max_steps": 3}})
    t = Trainer(cfg, os.path.join(sys.argv[1], "run"), progress=False)
    assert t.dist.world_size == 2, t.dist
    t.run()
""")


def test_two_processes_train_images_and_clips_as_one_process_does(tmp_path):
    """With 1-frame and 17-frame items, a rank's micro-batch may hold one length or both: the
    steps still match one process over the same global batch (and nothing hangs)."""
    from train_helpers import weights

    from test_trainer import MIXED

    _torchrun_two(_MIXED_SCRIPT, tmp_path)
    single = Trainer(tiny_config(**{**MIXED, "run.batch_size": 4, "run.max_steps": 3}),
                     tmp_path / "single", progress=False).run()
    a = weights(os.path.join(tmp_path, "run", "model", "model.safetensors"))
    b = weights(os.path.join(single.run_dir, "model", "model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-3, atol=2e-5,
                                   msg=lambda m, k=k: f"{k}: {m}")


_GROUPS_BY_HAND = textwrap.dedent("""
    import sys, torch, torch.distributed as dist
    from bootvid.train.distributed import init_distributed, shutdown_distributed
    for group in range(2):  # `bootvid latents`, then training, in one process
        ctx = init_distributed("cpu")
        t = torch.tensor([float(ctx.rank + 1 + 10 * group)])
        dist.all_reduce(t)
        print(f"group {group}: {t.item()}", flush=True)
        shutdown_distributed()
""")


def test_two_groups_in_turn_without_torchrun(tmp_path):
    """Launchers other than torchrun (SLURM scripts, mpirun) set RANK / WORLD_SIZE /
    MASTER_* by hand: rank 0 hosts the store itself, and a second group in the same process
    (after the first is shut down) binds MASTER_PORT again and keeps its keys apart."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = tmp_path / "groups.py"
    script.write_text(_GROUPS_BY_HAND)
    procs = [subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env={**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                        "RANK": str(r), "LOCAL_RANK": str(r), "WORLD_SIZE": "2",
                        "OMP_NUM_THREADS": "1"}) for r in (0, 1)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    for out in outs:
        assert "group 0: 3.0" in out and "group 1: 23.0" in out, out


_LATE_LISTING_SCRIPT = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {here!r})
    from train_helpers import FixedClips, tiny_config
    from bootvid.train import Trainer, checkpoint

    # no checkpoint inside the loop: the final one is written after it
    cfg = tiny_config(**{{"run.batch_size": 1, "run.max_steps": 2, "run.checkpoint_every": 5}})
    t = Trainer(cfg, os.path.join(sys.argv[1], "run"), dataset=FixedClips(), progress=False)
    if t.dist.rank == 1:
        # Rank 1 lists the run after rank 0 has written the final checkpoint (what a slow rank
        # sees under load): it must still take part in that write's barrier.
        real = checkpoint.list_checkpoints
        def seen_late(run_dir):
            found = real(run_dir)
            if t.step == 2 and not any(s == 2 for s, _ in found):
                found = [*found, (2, checkpoint.checkpoint_path(run_dir, 2))]
            return found
        checkpoint.list_checkpoints = seen_late
    t.run()
""")


def test_final_checkpoint_is_decided_by_all_ranks(tmp_path):
    """A rank that already sees rank 0's final checkpoint file does not skip the barrier of its
    write (it did, and the ranks' later barriers paired wrongly: 'Connection closed by peer')."""
    _torchrun_two(_LATE_LISTING_SCRIPT, tmp_path)
    run = tmp_path / "run"
    assert [s for s, _ in list_checkpoints(str(run))] == [2]
    assert os.path.isfile(run / "model" / "model.safetensors")
