"""The trainer: learning, run directories, checkpoints and exact resume, growth, GAN."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch

from bootvid.tokenizer import VideoTokenizer
from bootvid.train import Trainer
from bootvid.train.checkpoint import list_checkpoints
from bootvid.train.logger import read_log

from train_helpers import FixedClips, tiny_config, weights

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_a_few_steps_reduce_the_loss_on_a_fixed_batch(tmp_path):
    cfg = tiny_config(**{"run.max_steps": 40, "run.log_every": 1, "optim.lr": 2e-3,
                         "optim.warmup_steps": 0, "run.checkpoint_every": 100,
                         "run.preview_every": 100})
    res = Trainer(cfg, tmp_path / "run", dataset=FixedClips(n=2), progress=False).run()
    log = [r for r in read_log(res.run_dir) if "l1" in r]
    first = sum(r["l1"] for r in log[:3]) / 3
    last = sum(r["l1"] for r in log[-3:]) / 3
    assert len(log) == 40 and res.step == 40 and res.stopped == "max_steps"
    assert last < 0.6 * first, (first, last)


def test_run_directory_contents(tmp_path):
    run = tmp_path / "run"
    res = Trainer(tiny_config(), run, dataset=FixedClips(), progress=False).run()
    assert sorted(os.listdir(run)) == ["checkpoints", "log.jsonl", "model", "model_ema",
                                       "previews", "train_config.yaml"]
    assert [s for s, _ in list_checkpoints(str(run))] == [2, 4]
    assert sorted(os.listdir(run / "previews")) == ["step_00000002.png", "step_00000004.png"]
    from PIL import Image

    img = Image.open(run / "previews" / "step_00000004.png")
    assert img.size == (5 * 16, 3 * 16)  # 5 frames; input, reconstruction, error rows
    tok = VideoTokenizer.from_pretrained(res.model_dir)
    ema = VideoTokenizer.from_pretrained(res.ema_dir)
    assert tok.temporal_compression == 4
    assert any(not torch.equal(a, b) for a, b in zip(tok.state_dict().values(),
                                                      ema.state_dict().values()))
    rec = [r for r in read_log(str(run)) if "loss" in r]
    assert {"l1", "kl", "loss", "lr", "grad_norm", "clips_per_s"} <= set(rec[0])
    assert rec[0]["lr"] == pytest.approx(0.5 * 3e-4)  # first warmup step of 2


def test_existing_run_needs_resume(tmp_path):
    Trainer(tiny_config(**{"run.max_steps": 2}), tmp_path, dataset=FixedClips(),
            progress=False).run()
    with pytest.raises(FileExistsError, match="already holds a training run.*--resume"):
        Trainer(tiny_config(), tmp_path, dataset=FixedClips(), progress=False)
    with pytest.raises(FileNotFoundError, match="no checkpoint to resume"):
        Trainer(tiny_config(), tmp_path / "other", resume=True, dataset=FixedClips(),
                progress=False)


def test_max_minutes_stops_cleanly_with_a_checkpoint(tmp_path):
    cfg = tiny_config(**{"run.max_steps": 1000, "run.max_minutes": 1e-6,
                         "run.checkpoint_every": 500})
    res = Trainer(cfg, tmp_path, dataset=FixedClips(), progress=False).run()
    assert res.stopped == "max_minutes" and res.step == 1
    assert [s for s, _ in list_checkpoints(str(tmp_path))] == [1]
    assert os.path.isfile(os.path.join(res.model_dir, "model.safetensors"))


def test_resume_continues_to_the_same_weights_in_process(tmp_path):
    cfg = tiny_config(**{"run.max_steps": 4})
    full = Trainer(cfg, tmp_path / "full", dataset=FixedClips(), progress=False).run()
    part = Trainer(cfg.merged({"run.max_steps": 2}), tmp_path / "part", dataset=FixedClips(),
                   progress=False).run()
    assert part.step == 2
    res = Trainer(cfg, tmp_path / "part", resume=True, dataset=FixedClips(), progress=False).run()
    assert res.step == 4
    for d in ("model", "model_ema"):
        a = weights(os.path.join(full.run_dir, d, "model.safetensors"))
        b = weights(os.path.join(res.run_dir, d, "model.safetensors"))
        assert all(torch.equal(a[k], b[k]) for k in a), d


# Two synthetic sources, 40% single frames: micro-batches of 3 hold images and 17-frame clips.
MIXED = {"data.sources": [{"kind": "synthetic", "weight": 1}, {"kind": "synthetic",
                                                                 "weight": 2}],
         "data.image_ratio": 0.4, "data.frames": 17, "run.batch_size": 3}


def test_images_and_clips_train_in_one_step_and_resume_exactly(tmp_path):
    cfg = tiny_config(**MIXED, **{"run.max_steps": 4})
    lengths = []
    full_trainer = Trainer(cfg, tmp_path / "full", progress=False)
    original = full_trainer.forward_backward

    def spy(indices, x, scale=1.0, sync=True):
        lengths.append((x.shape[2], len(indices), round(scale, 6), sync))
        return original(indices, x, scale, sync)

    full_trainer.forward_backward = spy
    full = full_trainer.run()
    # 1-frame and 17-frame groups, weighted by their share of the micro-batch, the clips last
    # (the only synchronising pass)
    assert {t for t, *_ in lengths} == {1, 17}
    assert lengths[-1][0] == 17 and lengths[-1][3]
    # a step with both: an unsynchronised image pass, then its clips
    assert any(a[0] == 1 and not a[3] and b[0] == 17 for a, b in zip(lengths, lengths[1:]))
    assert all(sc == round(n / 3, 6) for _, n, sc, _ in lengths)
    assert not any(sync for t, _, _, sync in lengths if t == 1)
    part = Trainer(cfg.merged({"run.max_steps": 2}), tmp_path / "part", progress=False).run()
    assert part.step == 2
    res = Trainer(cfg, tmp_path / "part", resume=True, progress=False).run()
    assert res.step == 4
    for d in ("model", "model_ema"):
        a = weights(os.path.join(full.run_dir, d, "model.safetensors"))
        b = weights(os.path.join(res.run_dir, d, "model.safetensors"))
        assert all(torch.equal(a[k], b[k]) for k in a), d


def test_resume_with_a_spent_time_budget_ends_cleanly_and_a_larger_one_continues(
        tmp_path, capsys):
    """A run resumed with a --max-minutes budget it has already used up says so and ends
    cleanly with its final model (the progress bar's total was once below its initial value
    and the bar's format crashed: "unsupported format string passed to NoneType")."""
    cfg = tiny_config(**{"run.max_steps": 3, "run.checkpoint_every": 3})
    Trainer(cfg, tmp_path, dataset=FixedClips(), progress=True).run()
    # as if the run had trained 45 s (the reported case: resumed with --max-minutes 0.5)
    path = tmp_path / "checkpoints" / "step_00000003.pt"
    state = torch.load(path, weights_only=False)
    state["train_seconds"] = 45.0
    torch.save(state, path)
    spent = Trainer(cfg.merged({"run.max_steps": 6, "run.max_minutes": 0.5}), tmp_path,
                    resume=True, dataset=FixedClips(), progress=True).run()
    assert spent.step == 3 and spent.stopped == "max_minutes"
    assert "already trained 0.75 minutes" in capsys.readouterr().err
    assert os.path.isfile(tmp_path / "model" / "model.safetensors")
    more = Trainer(cfg.merged({"run.max_steps": 5, "run.max_minutes": 1.0}), tmp_path,
                   resume=True, dataset=FixedClips(), progress=True).run()
    assert more.step == 5 and more.stopped == "max_steps"


_KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from train_helpers import FixedClips, tiny_config
    from bootvid.train import Trainer

    def kill(trainer, step):
        if step == {kill_at}:
            os.kill(os.getpid(), signal.SIGKILL)

    cfg = tiny_config(**{{"run.max_steps": 6, "run.checkpoint_every": 2,
                          "loss.gan": 0.1, "loss.gan_start": 1, "loss.lecam": 0.01}})
    Trainer(cfg, sys.argv[1], resume=sys.argv[2] == "resume", dataset=FixedClips(),
            progress=False, hooks=[kill]).run()
""")


def test_sigkill_and_resume_reach_the_weights_of_an_uninterrupted_run(tmp_path):
    """SIGKILL at step 5 (checkpoint at 4, step 5 lost), resume: same weights as a run that was
    never interrupted, with the GAN, LeCAM and EMA states in play."""
    tests = os.path.dirname(os.path.abspath(__file__))

    def run(out, kill_at, mode):
        script = tmp_path / f"run_{kill_at}_{mode}.py"
        script.write_text(_KILL_SCRIPT.format(tests=tests, kill_at=kill_at))
        return subprocess.run([sys.executable, str(script), str(out), mode],
                              capture_output=True, text=True, timeout=300)

    full = run(tmp_path / "full", -1, "new")
    assert full.returncode == 0, full.stderr[-3000:]
    killed = run(tmp_path / "killed", 5, "new")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert [s for s, _ in list_checkpoints(str(tmp_path / "killed"))] == [2, 4]
    assert not os.path.exists(tmp_path / "killed" / "model")
    resumed = run(tmp_path / "killed", -1, "resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for d in ("model", "model_ema"):
        a = weights(str(tmp_path / "full" / d / "model.safetensors"))
        b = weights(str(tmp_path / "killed" / d / "model.safetensors"))
        assert all(torch.equal(a[k], b[k]) for k in a), d
    ca = torch.load(list_checkpoints(str(tmp_path / "full"))[-1][1], weights_only=True)
    cb = torch.load(list_checkpoints(str(tmp_path / "killed"))[-1][1], weights_only=True)
    assert all(torch.equal(ca["disc"][k], cb["disc"][k]) for k in ca["disc"])
    log = [r for r in read_log(str(tmp_path / "killed")) if "d_loss" in r]
    assert log, "the GAN never ran"


def test_corrupt_newest_checkpoint_falls_back_to_the_previous(tmp_path):
    Trainer(tiny_config(), tmp_path, dataset=FixedClips(), progress=False).run()
    ckpts = list_checkpoints(str(tmp_path))
    with open(ckpts[-1][1], "r+b") as f:
        f.truncate(100)
    with pytest.warns(UserWarning, match="cannot be read"):
        t = Trainer(tiny_config(**{"run.max_steps": 5}), tmp_path, resume=True,
                    dataset=FixedClips(), progress=False)
    assert t.step == ckpts[-2][0]


def test_grow_trains_only_the_new_stage(tmp_path):
    lower = VideoTokenizer(tiny_config().tokenizer_config())
    lower.save_pretrained(tmp_path / "tok4")
    before = {k: v.clone() for k, v in lower.state_dict().items()}
    cfg = tiny_config(**{"data.frames": 9, "run.max_steps": 3, "optim.lr": 1e-2})
    t = Trainer(cfg, tmp_path / "run8", grow_from=tmp_path / "tok4",
                dataset=FixedClips(frames=9), progress=False)
    trainable = {n for n, _ in t.named_trainable}
    assert trainable and all(".lower." not in n for n in trainable)
    stage_before = {n: p.detach().clone() for n, p in t.tok.named_parameters()}
    res = t.run()
    grown = VideoTokenizer.from_pretrained(res.model_dir)
    assert grown.temporal_compression == 8
    after = grown.state_dict()
    for k, v in before.items():  # the lower tokenizer's weights: encoder.X -> encoder.lower.X
        part, _, rest = k.partition(".")
        assert torch.equal(v, after[f"{part}.lower.{rest}"]), k
    changed = [n for n in trainable if not torch.equal(stage_before[n], after[n])]
    assert len(changed) == len(trainable)


def test_grow_run_resumes_without_from(tmp_path):
    lower = VideoTokenizer(tiny_config().tokenizer_config())
    lower.save_pretrained(tmp_path / "tok4")
    cfg = tiny_config(**{"data.frames": 9, "run.max_steps": 2})
    Trainer(cfg, tmp_path / "run8", grow_from=tmp_path / "tok4", dataset=FixedClips(frames=9),
            progress=False).run()
    t = Trainer(cfg.merged({"run.max_steps": 4}), tmp_path / "run8", resume=True,
                dataset=FixedClips(frames=9), progress=False)
    assert t.tok.temporal_compression == 8
    assert {n for n, _ in t.named_trainable} == {
        n for n, p in t.tok.named_parameters() if ".lower." not in n}
    assert t.run().step == 4


def test_grow_with_train_lower_trains_the_whole_model_and_resumes_so(tmp_path):
    """The frozen-vs-unfrozen ablation: grow.train_lower trains the lower tokenizer's weights
    with the new stage, and a resumed run keeps training them."""
    lower = VideoTokenizer(tiny_config().tokenizer_config())
    lower.save_pretrained(tmp_path / "tok4")
    before = {k: v.clone() for k, v in lower.state_dict().items()}
    cfg = tiny_config(**{"data.frames": 9, "run.max_steps": 2, "optim.lr": 1e-2,
                         "grow.train_lower": True})
    t = Trainer(cfg, tmp_path / "run8", grow_from=tmp_path / "tok4",
                dataset=FixedClips(frames=9), progress=False)
    everything = {n for n, _ in t.tok.named_parameters()}
    assert {n for n, _ in t.named_trainable} == everything
    assert any(".lower." in n for n in everything) and "weights train too" in t.source
    after = VideoTokenizer.from_pretrained(t.run().model_dir).state_dict()
    changed = [k for k, v in before.items()
               if not torch.equal(v, after[k.replace(".", ".lower.", 1)])]
    assert len(changed) > len(before) // 2, changed
    t = Trainer(cfg.merged({"run.max_steps": 3}), tmp_path / "run8", resume=True,
                dataset=FixedClips(frames=9), progress=False)
    assert {n for n, _ in t.named_trainable} == everything and t.run().step == 3


def test_frames_that_do_not_fit_the_model_are_refused(tmp_path):
    from bootvid.train import ConfigError

    with pytest.raises(ConfigError, match=r"1 \+ k\*16 frames, got 5"):
        Trainer(tiny_config(**{"model.temporal_compression": 16}), tmp_path,
                dataset=FixedClips(), progress=False)


def test_gan_terms_logged_after_gan_start(tmp_path):
    cfg = tiny_config(**{"loss.gan": 0.1, "loss.gan_start": 2, "loss.lecam": 0.01,
                         "run.max_steps": 4})
    Trainer(cfg, tmp_path, dataset=FixedClips(), progress=False).run()
    log = [r for r in read_log(str(tmp_path)) if "loss" in r]
    assert ["g_loss" in r for r in log] == [False, False, True, True]
    assert all({"d_loss", "lecam", "gan_weight"} <= set(r) for r in log[2:])
    assert all(r["gan_weight"] > 0 for r in log[2:])


def test_grad_accumulation_equals_the_bigger_batch(tmp_path):
    """2 micro-steps of 1 clip accumulate the gradient of 1 step of 2 clips (same noise)."""
    ds = FixedClips()
    t = Trainer(tiny_config(), tmp_path, dataset=ds, progress=False)
    x = torch.stack([ds[0], ds[1]])
    t.forward_backward([0, 1], x)
    whole = {n: p.grad.clone() for n, p in t.named_trainable}
    t.optimizer.zero_grad()
    t.forward_backward([0], x[:1], scale=0.5)
    t.forward_backward([1], x[1:], scale=0.5)
    for n, p in t.named_trainable:
        torch.testing.assert_close(p.grad, whole[n], rtol=1e-4, atol=1e-7, msg=n)
    assert max(g.abs().max() for g in whole.values()) > 1e-3  # a real gradient was compared


def test_non_finite_gradients_skip_the_step_then_stop(tmp_path):
    class NaNClips(FixedClips):
        def __getitem__(self, i):
            return torch.full_like(self.clips[0], float("nan"))

    cfg = tiny_config(**{"run.max_bad_steps": 3, "run.max_steps": 10})
    t = Trainer(cfg, tmp_path, dataset=NaNClips(), progress=False)
    before = {n: p.detach().clone() for n, p in t.named_trainable}
    with pytest.raises(FloatingPointError, match="3 consecutive steps with a non-finite"):
        t.run()
    assert all(torch.equal(before[n], p) for n, p in t.named_trainable)  # no NaN written


def test_bf16_training_on_cpu_runs_with_finite_losses(tmp_path):
    """bf16 autocast on the CPU is allowed since causal_conv3d's CPU bf16 backward takes its
    weight gradient in fp32 (tests/test_ops_bf16_cpu.py); a CPU that emulates bf16 is warned
    about (it is far slower than fp32 there)."""
    from bootvid.ops import cpu_has_native_bf16

    cfg = tiny_config(**{"run.precision": "bf16", "run.device": "cpu", "run.max_steps": 3})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = Trainer(cfg, tmp_path, dataset=FixedClips(), progress=False)
        t.run()
    assert t.bf16
    slow = [w for w in caught if "without native bf16" in str(w.message)]
    assert bool(slow) != cpu_has_native_bf16()
    rows = [json.loads(line) for line in open(tmp_path / "log.jsonl")]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(v)) for v in losses)


def test_sigint_finishes_the_step_and_writes_checkpoint_and_model(tmp_path):
    def interrupt(trainer, step):
        if step == 3:
            os.kill(os.getpid(), signal.SIGINT)

    cfg = tiny_config(**{"run.max_steps": 10, "run.checkpoint_every": 100})
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN under nohup, the default otherwise
    res = Trainer(cfg, tmp_path, dataset=FixedClips(), progress=False, hooks=[interrupt]).run()
    assert res.stopped == "interrupted" and res.step == 3
    assert [s for s, _ in list_checkpoints(str(tmp_path))] == [3]
    assert os.path.isfile(os.path.join(res.model_dir, "model.safetensors"))
    assert signal.getsignal(signal.SIGINT) is before  # restored
    events = [r["event"] for r in read_log(str(tmp_path)) if "event" in r]
    assert events[-1].startswith("stop (interrupted)")


def test_perceptual_loss_from_a_local_weights_file(tmp_path):
    from safetensors.torch import save_file

    from bootvid.train.perceptual import LPIPS

    weights_file = tmp_path / "lpips_vgg.safetensors"
    # real LPIPS weights are non-negative (a distance); random ones need not be
    state = {k: (v.abs() if k.startswith("lin") else v).contiguous()
             for k, v in LPIPS().state_dict().items()}
    save_file(state, str(weights_file))
    cfg = tiny_config(**{"loss.perceptual": 0.1, "loss.lpips_path": str(weights_file),
                         "run.max_steps": 1})
    Trainer(cfg, tmp_path / "run", dataset=FixedClips(), progress=False).run()
    rec = [r for r in read_log(str(tmp_path / "run")) if "loss" in r][0]
    assert rec["lpips"] > 0
    assert rec["loss"] == pytest.approx(rec["l1"] + 1e-6 * rec["kl"] + 0.1 * rec["lpips"],
                                        rel=1e-5)
    missing = cfg.merged({"loss.lpips_path": str(tmp_path / "nope.pth")})
    with pytest.raises(FileNotFoundError, match="(?i)nothing is downloaded"):
        Trainer(missing, tmp_path / "run2", dataset=FixedClips(), progress=False)
