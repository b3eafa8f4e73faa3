"""Interruptions lose nothing: a kill during a checkpoint write, a full disk, a dead rank under
torchrun (and its elastic restart)."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from bootvid.cli.main import main
from bootvid.train import checkpoint as ckpt


@pytest.fixture
def latents(tmp_path):
    from dit_helpers import make_cache, structured_latents

    return make_cache(tmp_path / "cache", structured_latents(6))


def _train_args(latents, out, *extra):
    return ["dit", "train", "--latents", latents, "--preset", "test", "--batch-size", "1",
            "--checkpoint-every", "2", "--out", str(out), "--no-progress", "--device", "cpu",
            *extra]


def _weights(run):
    from bootvid.diffusion import DiT

    return DiT.from_pretrained(os.path.join(run, "model")).state_dict()


_KILL_MID_WRITE = textwrap.dedent("""
    import os, signal, sys, torch
    from bootvid.train import checkpoint
    real = torch.save

    def save_then_die(state, path):
        real(state, path)  # the temporary file is written, not yet renamed
        if state["step"] == 4:
            os.kill(os.getpid(), signal.SIGKILL)

    checkpoint.torch.save = save_then_die
    from bootvid.cli.main import main
    sys.exit(main(sys.argv[1:]))
""")


def test_kill_during_a_checkpoint_write_keeps_the_previous_one(latents, tmp_path):
    script = tmp_path / "kill.py"
    script.write_text(_KILL_MID_WRITE)
    run = tmp_path / "killed"
    r = subprocess.run([sys.executable, str(script), *_train_args(latents, run, "--max-steps", "6")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == -signal.SIGKILL, r.stderr[-3000:]
    names = sorted(os.listdir(run / "checkpoints"))
    assert names[-1] == "step_00000002.pt" and any(n.endswith(".tmp") for n in names), names
    assert torch.load(run / "checkpoints" / "step_00000002.pt", weights_only=True)["step"] == 2
    # resume: from step 2, the partial file cleared, the same weights as an unbroken run
    assert main(_train_args(latents, run, "--max-steps", "6", "--resume")) == 0
    assert not any(n.endswith(".tmp") for n in os.listdir(run / "checkpoints"))
    assert main(_train_args(latents, tmp_path / "whole", "--max-steps", "6")) == 0
    a, b = _weights(str(run)), _weights(str(tmp_path / "whole"))
    assert all(torch.equal(a[k], b[k]) for k in a)


# A full disk as torch.save reports it: an OSError, or (its zip writer, as seen on a real full
# disk) a RuntimeError.
_NO_SPACE = {"oserror": (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
                         "No space left on device"),
             "torch-writer": (RuntimeError("[enforce fail at inline_container.cc:672] . "
                                           "unexpected pos 106826112 vs 106826000"),
                              "[enforce fail at inline_container.cc:672] . unexpected pos "
                              "106826112 vs 106826000")}


@pytest.mark.parametrize("how", sorted(_NO_SPACE))
def test_full_disk_during_a_checkpoint_write(latents, tmp_path, monkeypatch, capsys, how):
    real = torch.save
    error, why = _NO_SPACE[how]

    def no_space(state, path):
        if state["step"] >= 4:
            with open(path, "wb") as f:  # part of the file made it to disk
                f.write(b"\0" * 1000)
            raise error
        real(state, path)

    monkeypatch.setattr(ckpt.torch, "save", no_space)
    run = tmp_path / "run"
    assert main(_train_args(latents, run, "--max-steps", "6")) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert re.search(re.escape(f"writing the checkpoint {run}/checkpoints/step_00000004.pt "
                               f"failed ({why}; ") + r"[0-9.]+ [MG]B free on its disk" +
                     re.escape(f"); the previous checkpoints in {run}/checkpoints are intact"),
                     err), err
    assert os.listdir(run / "checkpoints") == ["step_00000002.pt"]  # no partial file either
    monkeypatch.setattr(ckpt.torch, "save", real)
    assert main(_train_args(latents, run, "--max-steps", "6", "--resume")) == 0


_RANK_DIES = textwrap.dedent("""
    import os, sys
    from bootvid.train.loop import TrainingLoop
    real = TrainingLoop.save_checkpoint

    def save_then_die(self):
        real(self)
        if (self.step == 2 and self.dist.rank == 1
                and os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"):
            os._exit(3)  # rank 1 dies (first attempt only)

    TrainingLoop.save_checkpoint = save_then_die
    from bootvid.cli.main import main
    sys.exit(main(sys.argv[1:]))
""")


def _torchrun(script, restarts, args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node=2", f"--max-restarts={restarts}",
                           "--monitor-interval=0.5", str(script), *args],
                          capture_output=True, text=True, timeout=600, env=env)


def test_a_dead_rank_stops_the_job_with_its_checkpoints(latents, tmp_path):
    script = tmp_path / "die.py"
    script.write_text(_RANK_DIES)
    stopped = _torchrun(script, 0, _train_args(latents, tmp_path / "a", "--max-steps", "4"))
    assert stopped.returncode != 0
    # torchrun names the dead rank and its exit code; the surviving rank says why it stopped
    assert "exitcode  : 3" in stopped.stderr, stopped.stderr[-3000:]
    # (unless torchrun's SIGTERM reaches it before the broken connection does)
    assert ("bootvid: error: another process of this torchrun job stopped" in stopped.stderr
            or "Signal 15 (SIGTERM) received" in stopped.stderr), stopped.stderr[-3000:]
    assert [s for s, _ in ckpt.list_checkpoints(str(tmp_path / "a"))] == [2]  # nothing lost


def test_an_elastic_restart_resumes_the_run(latents, tmp_path, monkeypatch, capsys):
    """What a worker restarted by ``torchrun --max-restarts`` does: continue the run in --out
    from its last checkpoint rather than refuse the existing run directory."""
    run = tmp_path / "run"
    assert main(_train_args(latents, run, "--max-steps", "2")) == 0
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    assert main(_train_args(latents, run, "--max-steps", "4")) == 0
    out = capsys.readouterr().out
    assert f"elastic restart 1: resuming {run} from its last checkpoint" in out
    assert "stopped at step 4 (max_steps)" in out
    monkeypatch.delenv("TORCHELASTIC_RESTART_COUNT")
    assert main(_train_args(latents, run, "--max-steps", "6")) == 2  # without a restart: refused
    assert "continue it with --resume" in capsys.readouterr().err


def test_torchrun_max_restarts_resumes_after_a_rank_dies(latents, tmp_path):
    script = tmp_path / "die.py"
    script.write_text(_RANK_DIES)
    r = _torchrun(script, 1, _train_args(latents, tmp_path / "b", "--max-steps", "4"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert "elastic restart 1: resuming" in r.stdout
    assert "stopped at step 4 (max_steps)" in r.stdout
    from bootvid.train.logger import read_log

    events = [e["event"] for e in read_log(str(tmp_path / "b")) if "event" in e]
    assert any("world size 2" in e for e in events) and any(
        e.startswith("stop (max_steps)") for e in events)


_GROUP_KILL = textwrap.dedent("""
    import multiprocessing, os, signal, sys, threading
    sys.path.insert(0, {helpers!r})
    from train_helpers import tiny_config
    from bootvid.train import Trainer

    def kill_group(trainer, step):
        if step == 2:  # as `pkill -f` does: every process of the run, the workers first
            workers = multiprocessing.active_children()
            assert workers
            for w in workers:
                os.kill(w.pid, signal.SIGTERM)
            threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()

    cfg = tiny_config(**{{"data.num_workers": 1, "run.max_steps": 50,
                          "run.checkpoint_every": 100}})
    result = Trainer(cfg, sys.argv[1], progress=False, hooks=[kill_group]).run()
    print("stopped:", result.stopped, result.step)
""")


def test_sigterm_to_the_whole_process_group_stops_cleanly(tmp_path):
    """The DataLoader workers get the signal too, here before the main process: they leave it
    to the main process, and the run ends as interrupted, with a checkpoint and its models
    (a worker that died first used to end the run with an error and no checkpoint)."""
    helpers = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "train")
    script = tmp_path / "group_kill.py"
    script.write_text(_GROUP_KILL.format(helpers=helpers))
    run = tmp_path / "run"
    for attempt in range(2):
        r = subprocess.run([sys.executable, str(script), str(run / str(attempt))],
                           capture_output=True, text=True, timeout=300, start_new_session=True)
        assert r.returncode == 0, r.stderr[-3000:]
        assert "stopped: interrupted" in r.stdout, r.stdout + r.stderr[-2000:]
        steps = [s for s, _ in ckpt.list_checkpoints(str(run / str(attempt)))]
        assert steps and steps[-1] >= 2, steps
        assert os.path.isfile(run / str(attempt) / "model" / "model.safetensors")
