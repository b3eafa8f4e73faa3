"""The DiT trainer: runs, exact resume, saved models with the metadata sampling needs."""

from __future__ import annotations

import pytest
import torch

from bootvid.diffusion import DiT, DiTTrainConfig, DiTTrainer


def _config(root, **run):
    return DiTTrainConfig().merged({
        "model.preset": "test", "data.latents": root, "run.batch_size": 2, "run.device": "cpu",
        "run.log_every": 1, "run.checkpoint_every": 3, **{f"run.{k}": v for k, v in run.items()},
        "optim.warmup_steps": 2})


def _weights(run_dir, sub="model"):
    return DiT.from_pretrained(f"{run_dir}/{sub}").state_dict()


def test_resume_matches_an_uninterrupted_run(cache_factory, tmp_path):
    root = cache_factory(n=5, labels=[0, 1, 2, 0, 1], classes=("a", "b", "c"))
    full = DiTTrainer(_config(root, max_steps=6), tmp_path / "full", progress=False).run()
    assert full.step == 6 and full.stopped == "max_steps"
    DiTTrainer(_config(root, max_steps=3), tmp_path / "part", progress=False).run()
    resumed = DiTTrainer(_config(root, max_steps=6), tmp_path / "part", resume=True,
                         progress=False).run()
    assert resumed.step == 6
    for sub in ("model", "model_ema"):
        a, b = _weights(tmp_path / "full", sub), _weights(tmp_path / "part", sub)
        for k in a:
            assert torch.equal(a[k], b[k]), (sub, k)
    # a new run in a used directory is refused
    with pytest.raises(FileExistsError, match="continue it with --resume"):
        DiTTrainer(_config(root, max_steps=6), tmp_path / "full", progress=False)


def test_saved_model_carries_what_sampling_needs(cache_factory, tmp_path):
    root = cache_factory(n=4, labels=[0, 1, 0, 1], classes=("a", "b"))
    r = DiTTrainer(_config(root, max_steps=2), tmp_path / "run", progress=False).run()
    dit = DiT.from_pretrained(r.ema_dir)
    assert dit.config.in_channels == 4 and dit.config.num_classes == 2
    meta = DiT.read_metadata(r.ema_dir)
    assert meta["classes"] == ["a", "b"] and meta["latent_shape"] == [4, 2, 4, 4]
    assert len(meta["mean"]) == len(meta["std"]) == 4 and meta["step"] == 2
    assert meta["tokenizer_fingerprint"] == "0" * 16
    from bootvid.train.logger import read_log

    losses = [rec["loss"] for rec in read_log(r.run_dir) if "loss" in rec]
    assert len(losses) == 2 and all(l > 0 for l in losses)


def test_unconditional_cache_trains_an_unconditional_model(cache_factory, tmp_path):
    root = cache_factory(n=3)
    r = DiTTrainer(_config(root, max_steps=1), tmp_path / "run", progress=False).run()
    assert DiT.from_pretrained(r.model_dir).null_label is None


def test_config_errors(cache_factory, tmp_path):
    from bootvid.train import ConfigError

    with pytest.raises(ConfigError, match="model.preset: unknown DiT preset 'huge'"):
        DiTTrainConfig().merged({"model.preset": "huge"})
    with pytest.raises(ConfigError, match="in_channels comes from the latent cache"):
        DiTTrainConfig().merged({"model.overrides": {"in_channels": 3}})
    with pytest.raises(ConfigError, match="flow.label_dropout"):
        DiTTrainConfig().merged({"flow.label_dropout": 1.0})
    with pytest.raises(ConfigError, match="data.latents: no latent cache given"):
        DiTTrainer(DiTTrainConfig(), tmp_path / "r", progress=False)
    with pytest.raises(ConfigError, match="unknown config key 'run.epochs'"):
        DiTTrainConfig().merged({"run.epochs": 3})


def test_shipped_dit_configs_load():
    import os

    root = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "dit")
    names = sorted(os.listdir(root))
    assert names == ["small.yaml", "tiny.yaml"]
    for name in names:
        cfg = DiTTrainConfig.from_yaml(os.path.join(root, name))
        assert cfg.model.preset == name[:-5]


def test_bf16_autocast_trains_on_cpu(cache_factory, tmp_path):
    root = cache_factory(n=4)
    t = DiTTrainer(_config(root, max_steps=2, precision="bf16"), tmp_path / "run",
                   progress=False)
    assert t.bf16
    r = t.run()
    assert r.step == 2 and 0 < r.last["loss"] < 10
    assert all(torch.isfinite(v).all() for v in DiT.from_pretrained(r.model_dir).state_dict().values())


def test_a_signal_stops_the_run_with_a_checkpoint(cache_factory, tmp_path):
    import os
    import signal

    from bootvid.train.checkpoint import list_checkpoints

    root = cache_factory(n=4)

    def interrupt(trainer, step):
        if step == 2:
            os.kill(os.getpid(), signal.SIGINT)

    r = DiTTrainer(_config(root, max_steps=50), tmp_path / "run", progress=False,
                   hooks=[interrupt]).run()
    assert r.stopped == "interrupted" and r.step == 2
    assert [s for s, _ in list_checkpoints(str(tmp_path / "run"))] == [2]
    resumed = DiTTrainer(_config(root, max_steps=4), tmp_path / "run", resume=True,
                         progress=False).run()
    assert resumed.step == 4 and resumed.stopped == "max_steps"
