"""PSNR and SSIM against known values and scikit-image."""

from __future__ import annotations

import math

import pytest
import torch

from bootvid.eval.metrics import psnr, psnr_per_frame, ssim, ssim_per_frame


def _video(T=3, H=32, W=40, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (T, H, W, 3), generator=g, dtype=torch.uint8)


def test_identical_videos():
    v = _video()
    assert psnr(v, v) == math.inf
    assert torch.isinf(psnr_per_frame(v, v)).all()
    assert ssim(v, v) == pytest.approx(1.0, abs=1e-12)


def test_constant_offset_has_the_closed_form_psnr():
    v = torch.full((2, 16, 16, 3), 100, dtype=torch.uint8)
    w = v + 5
    assert psnr(v, w) == pytest.approx(10 * math.log10(255 ** 2 / 25))
    assert psnr_per_frame(v, w).tolist() == pytest.approx([10 * math.log10(255 ** 2 / 25)] * 2)


def test_video_psnr_is_from_the_pooled_mse_not_the_mean_of_frame_psnrs():
    v = torch.full((2, 16, 16, 3), 100, dtype=torch.uint8)
    w = v.clone()
    w[0] += 1   # mse 1 on frame 0
    w[1] += 10  # mse 100 on frame 1
    assert psnr(v, w) == pytest.approx(10 * math.log10(255 ** 2 / 50.5))
    assert psnr_per_frame(v, w).mean() != pytest.approx(psnr(v, w))


def test_against_scikit_image():
    skm = pytest.importorskip("skimage.metrics")
    a = _video(3, 40, 48, seed=1)
    # a structured distortion: blur plus noise, so SSIM is far from 0 and 1
    b = torch.nn.functional.avg_pool2d(a.permute(0, 3, 1, 2).float(), 3, 1, 1)
    b = (b + 8 * torch.randn(b.shape, generator=torch.Generator().manual_seed(2)))
    b = b.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    ours = ssim_per_frame(a, b)
    for t in range(3):
        ref = skm.structural_similarity(a[t].numpy(), b[t].numpy(), channel_axis=-1,
                                        data_range=255, gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False)
        assert float(ours[t]) == pytest.approx(ref, abs=1e-6)
        ref_psnr = skm.peak_signal_noise_ratio(a[t].numpy(), b[t].numpy(), data_range=255)
        assert float(psnr_per_frame(a, b)[t]) == pytest.approx(ref_psnr, abs=1e-9)
    assert 0.05 < float(ours.mean()) < 0.95


def test_bad_inputs():
    v = _video()
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(v, v[:2])
    with pytest.raises(ValueError, match="expected uint8 frames"):
        ssim(v.float(), v.float())
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(v[:, :8, :8], v[:, :8, :8])
