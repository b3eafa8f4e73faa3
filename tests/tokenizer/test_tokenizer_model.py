"""VideoTokenizer: shapes for every frame count, geometry, input errors, config, posterior,
frame conversions, gradients, causality."""

from __future__ import annotations

import json

import pytest
import torch
from tok_helpers import make_tokenizer, make_video, max_diff

from bootvid.tokenizer import (
    DiagonalGaussian,
    TokenizerConfig,
    VideoTokenizer,
    frames_to_video,
    video_to_frames,
)


# ---- shapes and geometry ----------------------------------------------------------------

@pytest.mark.parametrize("T", range(1, 21))
def test_shapes_every_frame_count(tok, T):
    x = make_video(T, 16, 24, B=2)
    with torch.no_grad():
        post = tok.encode(x)
        tl = 1 + -(-(T - 1) // 4)
        assert post.mean.shape == (2, 16, tl, 2, 3)
        assert (16, tl, 2, 3) == tok.latent_shape(T, 16, 24)
        assert post.logvar.shape == post.mean.shape
        recon = tok.decode(post.mode(), num_frames=T)
        assert recon.shape == x.shape
        assert tok.decode(post.mode()).shape == (2, 3, 1 + 4 * (tl - 1), 16, 24)
        r2, p2 = tok(x)
    assert r2.shape == x.shape and torch.equal(p2.mean, post.mean)


def test_properties_and_presets():
    tok = make_tokenizer()
    assert tok.temporal_compression == 4 and tok.spatial_compression == 8
    assert tok.latent_channels == 16
    assert tok.latent_shape(17, 128, 128) == (16, 5, 16, 16)
    assert tok.latent_shape(1, 8, 8) == (16, 1, 1, 1)
    assert tok.latent_frames(18) == 6 and tok.num_frames(6) == 21
    base = TokenizerConfig.preset("base")
    assert base.base_channels == 128 and base.channel_multipliers == (1, 2, 2, 4)
    assert base.num_res_blocks == 4 and base.temporal_downsample == (False, True, True)
    for name in TokenizerConfig.presets():
        c = TokenizerConfig.preset(name)
        assert c.spatial_compression == 8 and c.temporal_compression == 4


@pytest.mark.parametrize("latent_channels", [4, 8])
def test_latent_channel_options(latent_channels):
    tok = make_tokenizer(latent_channels=latent_channels)
    x = make_video(5)
    with torch.no_grad():
        post = tok.encode(x)
        assert post.mean.shape == (1, latent_channels, 2, 2, 2)
        assert tok.decode(post.mode()).shape == x.shape


def test_custom_norm_runs():
    tok = make_tokenizer(norm_center=False)
    x = make_video(9)
    with torch.no_grad():
        recon, post = tok(x)
    assert recon.shape == x.shape and torch.isfinite(recon).all()


def test_frame_padding_replicates_last_frame(tok):
    """A 6-frame clip is encoded as the 9-frame clip whose last 3 frames repeat frame 5."""
    x = make_video(6)
    padded = torch.cat([x, x[:, :, -1:].expand(-1, -1, 3, -1, -1)], dim=2)
    with torch.no_grad():
        assert max_diff(tok.encode(x).mean, tok.encode(padded).mean) == 0.0
        z = tok.encode(x).mode()
        assert torch.equal(tok.decode(z, num_frames=6), tok.decode(z)[:, :, :6])


def test_causality(tok):
    """Changing frames after t changes no latent or decoded frame before it."""
    x = make_video(13)
    y = x.clone()
    y[:, :, 9:] = -y[:, :, 9:]  # frames 9.. differ: latent frames 0..2 (frames 0..8) must not
    with torch.no_grad():
        a, b = tok.encode(x).mean, tok.encode(y).mean
        assert max_diff(a[:, :, :3], b[:, :, :3]) == 0.0
        assert max_diff(a[:, :, 3:], b[:, :, 3:]) > 1e-3
        za = a.clone()
        za[:, :, 2:] += 1.0  # latent frames 2.. decode to frames 5..; frames 0..4 unchanged
        assert max_diff(tok.decode(a)[:, :, :5], tok.decode(za)[:, :, :5]) == 0.0


def test_backward_reaches_every_parameter():
    tok = make_tokenizer().train()
    x = make_video(5, B=2)
    recon, post = tok(x, sample_posterior=True, generator=torch.Generator().manual_seed(0))
    loss = (recon - x).abs().mean() + 1e-6 * post.kl().mean()
    loss.backward()
    missing = [n for n, p in tok.named_parameters()
               if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing


# ---- input errors -----------------------------------------------------------------------

@pytest.mark.parametrize("shape, match", [
    ((1, 3, 5, 20, 16), "multiples of 8"),
    ((1, 3, 5, 16, 12), "multiples of 8"),
    ((1, 4, 5, 16, 16), "3 channels"),
    ((1, 5, 16, 16, 3), "channels last"),
    ((3, 5, 16, 16), "4-D tensor"),
    ((1, 1, 3, 5, 16, 16), "6-D tensor"),
    ((1, 3, 0, 16, 16), "no frames"),
])
def test_bad_video_errors(tok, shape, match):
    with pytest.raises(ValueError, match=match):
        tok.encode(torch.zeros(shape))


def test_bad_dtype_and_latent_errors(tok):
    with pytest.raises(TypeError, match="frames_to_video"):
        tok.encode(torch.zeros(1, 3, 5, 16, 16, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\(B, 16, T, H, W\)"):
        tok.decode(torch.zeros(1, 8, 2, 2, 2))
    with pytest.raises(ValueError, match=r"2 latent frames decode to 2\.\.5 frames"):
        tok.decode(torch.zeros(1, 16, 2, 2, 2), num_frames=6)
    with pytest.raises(ValueError, match="multiples of 8"):
        tok.latent_shape(17, 100, 64)


# ---- config -----------------------------------------------------------------------------

def test_config_round_trip(tmp_path):
    c = TokenizerConfig.preset("small", latent_channels=8, norm_center=False)
    assert TokenizerConfig.from_dict(c.to_dict()) == c
    assert TokenizerConfig.from_json(c.to_json()) == c
    p = tmp_path / "config.json"
    p.write_text(c.to_json())
    assert TokenizerConfig.from_file(p) == c
    d = json.loads(c.to_json())
    assert d["_type"] == "VideoTokenizer" and d["growth"] == []


@pytest.mark.parametrize("kwargs, match", [
    (dict(channel_multipliers=(1,)), "at least two"),
    (dict(temporal_downsample=(True, True)), "one flag per downsample"),
    (dict(norm_groups=48), "divisible by norm_groups"),
    (dict(latent_channels=0), "latent_channels must be a positive integer"),
    (dict(pad_mode="reflect"), "pad_mode"),
    (dict(logvar_min=5.0, logvar_max=1.0), "logvar_min"),
])
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TokenizerConfig(**kwargs)


def test_config_unknown_field_and_preset():
    with pytest.raises(ValueError, match="unknown field"):
        TokenizerConfig.from_dict({"base_channel": 64})
    with pytest.raises(ValueError, match="unknown tokenizer preset"):
        TokenizerConfig.preset("huge")
    tok = VideoTokenizer("tiny", latent_channels=8)
    assert tok.config.latent_channels == 8 and tok.config.base_channels == 32


# ---- posterior --------------------------------------------------------------------------

def test_posterior_methods():
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(2, 4, 3, 5, 5, generator=g)
    logvar = torch.randn(2, 4, 3, 5, 5, generator=g)
    post = DiagonalGaussian(torch.cat([mean, logvar], 1))
    assert torch.equal(post.mode(), mean) and torch.equal(post.logvar, logvar)
    s1 = post.sample(torch.Generator().manual_seed(3))
    s2 = post.sample(torch.Generator().manual_seed(3))
    assert torch.equal(s1, s2) and not torch.equal(s1, mean)
    expected = 0.5 * (mean**2 + logvar.exp() - 1 - logvar).flatten(1).sum(1)
    assert torch.allclose(post.kl(), expected)
    assert post.kl().shape == (2,)
    assert torch.allclose(post.kl(post), torch.zeros(2), atol=1e-5)
    zeros = torch.zeros(1, 4, 2, 2, 2)
    std_normal = DiagonalGaussian(mean=zeros, logvar=zeros)
    assert std_normal.kl().abs().max() == 0
    assert post.nll(mean).shape == (2,)


def test_posterior_sample_statistics_and_clamp():
    mean = torch.full((1, 2, 64, 32, 32), 0.5)
    logvar = torch.full_like(mean, 2 * torch.tensor(0.3).log().item())
    post = DiagonalGaussian(mean=mean, logvar=logvar)
    s = post.sample(torch.Generator().manual_seed(0))
    assert abs(s.mean().item() - 0.5) < 0.01 and abs(s.std().item() - 0.3) < 0.01
    clamped = DiagonalGaussian(mean=mean, logvar=torch.full_like(mean, 100.0))
    assert clamped.logvar.max().item() == 20.0
    det = DiagonalGaussian(mean=mean, logvar=mean, deterministic=True)
    assert torch.equal(det.sample(), mean) and det.kl().abs().max() == 0
    with pytest.raises(ValueError, match="even channel count"):
        DiagonalGaussian(torch.zeros(1, 3, 1, 1, 1))


# ---- frame conversion -------------------------------------------------------------------

def test_frames_round_trip():
    frames = torch.randint(0, 256, (5, 16, 24, 3), dtype=torch.uint8)
    video = frames_to_video(frames)
    assert video.shape == (1, 3, 5, 16, 24) and video.dtype == torch.float32
    assert video.min() >= -1 and video.max() <= 1
    assert torch.equal(video_to_frames(video), frames)
    batch = frames_to_video(frames.numpy()[None].repeat(2, 0))
    assert video_to_frames(batch).shape == (2, 5, 16, 24, 3)
    assert torch.equal(video_to_frames(torch.full((1, 3, 1, 8, 8), 5.0)),
                       torch.full((1, 8, 8, 3), 255, dtype=torch.uint8))
    with pytest.raises(TypeError, match="uint8"):
        frames_to_video(torch.zeros(5, 16, 16, 3))
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        frames_to_video(torch.zeros(5, 3, 16, 16, dtype=torch.uint8))
