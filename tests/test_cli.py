"""The ``bootvid`` command: the demo runs end to end and bad arguments are clear errors."""

from __future__ import annotations

import re

from bootvid.cli.main import main


def test_demo_runs_ops_and_tokenizer(capsys):
    assert main(["demo", "--frames", "5", "--size", "16", "--channels", "32"]) == 0
    out = capsys.readouterr().out
    assert "bootvid ops demo" in out and "bootvid tokenizer demo" in out
    # The ops pipeline: kernels agree with the reference twins.
    err = float(re.search(r"max \|kernels - reference\| = ([0-9.e+-]+)", out).group(1))
    assert err < 1e-4
    # The tokenizer: the frame-count rule and streamed == whole.
    assert "1->1, 2->2, 5->2, 9->3, 16->5, 17->5, 33->9" in out
    m = re.search(r"latent ([0-9.e+-]+), video ([0-9.e+-]+)", out)
    assert float(m.group(1)) <= 1e-5 and float(m.group(2)) <= 1e-5


def test_demo_bad_arguments_are_clear_errors(capsys):
    assert main(["demo", "--frames", "4"]) == 2
    assert "--frames must be 1 + 2k" in capsys.readouterr().err
