"""Discriminator3d and BlurPool3d: shapes for images and clips, gradients, blur filter."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bootvid.train.discriminator import BlurPool3d, Discriminator3d

SMALL = dict(base_channels=4, channel_multipliers=(1, 2, 2, 2))


def _clip(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g) * 2 - 1


@pytest.fixture(scope="module")
def disc():
    torch.manual_seed(0)
    return Discriminator3d(**SMALL)


@pytest.mark.parametrize("frames", [1, 5, 17])
@pytest.mark.parametrize("size", [16, 32, 64])
def test_discriminator_gives_one_logit_per_clip(disc, frames, size):
    with torch.no_grad():
        logits = disc(_clip(2, 3, frames, size, size))
    assert logits.shape == (2,)
    assert torch.isfinite(logits).all()


def test_images_are_one_frame_clips(disc):
    images = _clip(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(disc(images), disc(images.unsqueeze(2)))


def test_odd_sizes_and_no_blur_run():
    torch.manual_seed(0)
    no_blur = Discriminator3d(**SMALL, blur=False)
    with torch.no_grad():
        assert no_blur(_clip(2, 3, 6, 24, 40)).shape == (2,)
        assert no_blur(_clip(2, 3, 1, 16, 16)).shape == (2,)


def test_samples_do_not_interact(disc):
    """No batch statistics: a sample's logit does not depend on the rest of the batch."""
    clips = _clip(3, 3, 5, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(disc(clips)[1:2], disc(clips[1:2]))
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in disc.modules())


def test_gradients_reach_input_and_every_parameter():
    torch.manual_seed(0)
    d = Discriminator3d(**SMALL)
    clips = _clip(2, 3, 5, 16, 16).requires_grad_()
    d(clips).sum().backward()
    assert clips.grad is not None and clips.grad.abs().sum() > 0
    for name, p in d.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_initial_logits_are_moderate():
    torch.manual_seed(0)
    d = Discriminator3d.from_preset("tiny")
    with torch.no_grad():
        logits = d(_clip(2, 3, 5, 32, 32))
    assert torch.isfinite(logits).all() and logits.abs().max() < 10


def test_presets():
    assert Discriminator3d.from_preset("tiny").base_channels == 16
    assert Discriminator3d.from_preset("small").base_channels == 32
    assert Discriminator3d.from_preset("base", channel_multipliers=(1,)).base_channels == 64
    with pytest.raises(ValueError, match="'base'.*'small'.*'tiny'"):
        Discriminator3d.from_preset("huge")


def test_wrong_channels_are_rejected(disc):
    with pytest.raises(ValueError, match=r"expects \(B, 3, T, H, W\)"):
        disc(torch.zeros(1, 4, 1, 16, 16))


@pytest.mark.parametrize("stride", [(1, 2, 2), (2, 2, 2)])
def test_blur_filter_is_normalised_binomial(stride):
    blur = BlurPool3d(5, stride)
    assert "kernel" not in blur.state_dict()  # non-persistent
    kernel = blur.kernel[0, 0]
    torch.testing.assert_close(kernel.sum(), torch.tensor(1.0))
    binomial = torch.tensor([1.0, 2.0, 1.0]) / 4
    spatial = binomial[:, None] * binomial[None, :]
    expected = (binomial[:, None, None] * spatial if stride[0] == 2 else spatial[None])
    torch.testing.assert_close(kernel, expected)


@pytest.mark.parametrize("stride,shape,out", [((2, 2, 2), (5, 16, 15), (3, 8, 8)),
                                              ((2, 2, 2), (1, 8, 8), (1, 4, 4)),
                                              ((1, 2, 2), (4, 9, 8), (4, 5, 4)),
                                              ((1, 1, 1), (3, 6, 6), (3, 6, 6))])
def test_blur_keeps_constants_and_rounds_sizes_up(stride, shape, out):
    blur = BlurPool3d(2, stride)
    constant = torch.full((1, 2, *shape), 0.7)
    y = blur(constant)
    assert y.shape == (1, 2, *out)
    torch.testing.assert_close(y, torch.full_like(y, 0.7))


def test_blur_of_single_frame_equals_spatial_blur():
    x = _clip(2, 3, 1, 8, 8)
    torch.testing.assert_close(BlurPool3d(3, (2, 2, 2))(x), BlurPool3d(3, (1, 2, 2))(x))


def test_blur_of_an_impulse_is_the_filter():
    x = torch.zeros(1, 1, 1, 5, 5)
    x[..., 2, 2] = 1.0
    y = BlurPool3d(1, (1, 1, 1))(x)[0, 0, 0]
    expected = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
    torch.testing.assert_close(y[1:4, 1:4], expected)
    assert y[0].abs().sum() == 0 and y[:, 0].abs().sum() == 0


def test_blur_rejects_other_strides():
    with pytest.raises(ValueError, match="each 1 or 2"):
        BlurPool3d(3, (4, 2, 2))
