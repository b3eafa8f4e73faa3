"""FVD: the Fréchet distance, and a local TorchScript detector through bootvid eval."""

from __future__ import annotations

import json

import pytest
import torch

from bootvid.cli.main import main
from bootvid.eval.fvd import frechet_distance, load_detector


def test_frechet_distance_against_scipy():
    linalg = pytest.importorskip("scipy.linalg")
    g = torch.Generator().manual_seed(0)
    a = torch.randn(40, 6, generator=g, dtype=torch.float64)
    b = torch.randn(50, 6, generator=g, dtype=torch.float64) * 1.5 + 0.3
    sa, sb = torch.cov(a.T).numpy(), torch.cov(b.T).numpy()
    root = linalg.sqrtm(sa @ sb).real
    ref = float(((a.mean(0) - b.mean(0)) ** 2).sum()) + float((sa + sb - 2 * root).trace())
    assert frechet_distance(a, b) == pytest.approx(ref, rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    with pytest.raises(ValueError, match=">= 2 feature vectors"):
        frechet_distance(a[:1], b)


class _FakeI3D(torch.nn.Module):
    """Same call signature as the StyleGAN-V I3D detector; features: pooled colour statistics."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(6, 8)

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = True,
                return_features: bool = True) -> torch.Tensor:
        stats = torch.cat([x.mean(dim=(2, 3, 4)), x.std(dim=(2, 3, 4))], dim=1)
        return self.proj(stats)


@pytest.fixture(scope="module")
def detector_path(tmp_path_factory):
    torch.manual_seed(0)
    p = tmp_path_factory.mktemp("i3d") / "i3d_torchscript.pt"
    torch.jit.save(torch.jit.script(_FakeI3D()), str(p))
    return str(p)


def test_eval_reports_fvd_with_a_local_detector(model_dir, video_file, detector_path, tmp_path):
    vids = [video_file(10, 48, 64, seed=s) for s in (11, 12, 13)]
    out = tmp_path / "r.json"
    assert main(["eval", "--model", model_dir, "--videos", *vids, "--frames", "5", "--size",
                 "32", "--fvd-detector", detector_path, "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["fvd_clips"] == 3 and res["fvd"] > 0


def test_fvd_errors(model_dir, video_file, detector_path, tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        load_detector(tmp_path / "missing.pt")
    v = video_file(10, 48, 64, seed=11)
    assert main(["eval", "--model", model_dir, "--videos", v, "--fvd-detector",
                 detector_path]) == 2
    assert "needs at least 2 videos" in capsys.readouterr().err
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"no")
    with pytest.raises(ValueError, match="not a TorchScript detector"):
        load_detector(junk)
