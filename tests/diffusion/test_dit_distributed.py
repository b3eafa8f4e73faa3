"""Under torchrun (2 processes, gloo on CPU): `bootvid latents` splits the videos between the
ranks and gives the cache one process gives; the DiT trainer's 2-process gradient equals the
single-process gradient over the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

pytest.importorskip("av")

_SCRIPT = textwrap.dedent("""
    import os, sys, warnings
    import torch
    from bootvid.cli.main import main
    from bootvid.diffusion import DiTTrainConfig, DiTTrainer
    from bootvid.train.sampler import StepSampler

    tok, data, out = sys.argv[1:4]
    warnings.simplefilter("ignore")
    lat = os.path.join(out, "lat2")
    assert main(["latents", "--model", tok, "--data", data, "--out", lat, "--clip-frames", "9",
                 "--size", "32", "--no-progress"]) == 0
    cfg = DiTTrainConfig().merged({{"model.preset": "test", "data.latents": lat,
                                   "run.batch_size": 1, "run.max_steps": 2, "run.device": "cpu",
                                   "flow.label_dropout": 0.5}})
    t = DiTTrainer(cfg, os.path.join(out, "run"), progress=False)
    assert t.dist.world_size == 2, t.dist
    idx = StepSampler(1, t.dist.rank, t.dist.world_size).indices(0)
    t.forward_backward(idx, [torch.stack(x) for x in zip(*[t.dataset[i] for i in idx])])
    torch.save({{n: p.grad for n, p in t.named_trainable}},
               os.path.join(out, f"grads{{t.dist.rank}}.pt"))
    t.optimizer.zero_grad()
    t.run()
""")


def test_two_processes(tokenizer_dir, video_folder, tmp_path):
    from bootvid.diffusion import DiTTrainConfig, DiTTrainer
    from bootvid.diffusion import latents as L

    script = tmp_path / "ddp.py"
    script.write_text(_SCRIPT.format())
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                        "--nproc_per_node=2", str(script), tokenizer_dir, video_folder,
                        str(tmp_path)], capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    assert "4 clips from 4 videos (2 encoded here" in r.stdout  # rank 0's share, then the index

    from bootvid.tokenizer import VideoTokenizer

    one = tmp_path / "lat1"
    with pytest.warns(UserWarning):
        L.cache_latents(VideoTokenizer.from_pretrained(tokenizer_dir), video_folder, one, 9, 32,
                        tokenizer_ref=tokenizer_dir, progress=False)
    i1, i2 = L.finalize_cache(one), L.read_index(tmp_path / "lat2")
    assert i1["mean"] == i2["mean"] and i1["shards"] == i2["shards"]

    cfg = DiTTrainConfig().merged({"model.preset": "test", "data.latents": str(tmp_path / "lat2"),
                                   "run.batch_size": 2, "run.device": "cpu",
                                   "flow.label_dropout": 0.5})
    t = DiTTrainer(cfg, tmp_path / "single", progress=False)
    t.forward_backward([0, 1], [torch.stack(x) for x in zip(t.dataset[0], t.dataset[1])])
    g0 = torch.load(tmp_path / "grads0.pt", weights_only=True)
    g1 = torch.load(tmp_path / "grads1.pt", weights_only=True)
    for n, p in t.named_trainable:
        assert torch.equal(g0[n], g1[n]), n  # DDP: both ranks hold the averaged gradient
        torch.testing.assert_close(g0[n], p.grad, rtol=1e-4, atol=1e-7, msg=n)
    run = tmp_path / "run"
    assert os.path.isfile(run / "model_ema" / "model.safetensors")
    log = (run / "log.jsonl").read_text().splitlines()
    assert "world size 2" in log[0]
