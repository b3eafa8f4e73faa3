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


def test_two_process_gradient_equals_single_process_gradient(tmp_path):
    here = os.path.dirname(os.path.abspath(__file__))
    script = tmp_path / "ddp.py"
    script.write_text(_SCRIPT.format(here=here))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                        "--nproc_per_node=2", str(script), str(tmp_path)],
                       capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]

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
