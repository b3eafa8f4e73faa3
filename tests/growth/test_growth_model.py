"""Grown tokenizers: shapes and geometry at 4x/8x/16x, causality, mixing variants, reference
ops, bf16, and clear errors."""

from __future__ import annotations

import pytest
import torch
from grow_helpers import make_base, make_grown, make_video, max_diff

import bootvid
from bootvid import ops
from bootvid.growth import MIXING_MODES, GrownTokenizer, grow
from bootvid.tokenizer import TokenizerConfig, VideoTokenizer


def _latent_frames(T: int, tc: int) -> int:
    return 1 + -(-(T - 1) // tc)


@pytest.mark.parametrize("T", [1, 2, 9, 17])
def test_shapes_4x_8x(tok4, tok8, T):
    x = make_video(T, 16, 24) if T == 9 else make_video(T)  # one non-square size
    w = x.shape[4] // 8
    with torch.no_grad():
        for tok, tc in ((tok4, 4), (tok8, 8)):
            post = tok.encode(x)
            tl = _latent_frames(T, tc)
            assert post.mean.shape == post.logvar.shape == (1, 16, tl, 2, w)
            assert tok.latent_shape(T, 16, 8 * w) == (16, tl, 2, w)
            assert tok.decode(post.mode(), num_frames=T).shape == x.shape
            assert tok.decode(post.mode()).shape == (1, 3, 1 + tc * (tl - 1), 16, 8 * w)


@pytest.mark.parametrize("T", [1, 4, 17, 18])
def test_shapes_16x(tok16, T):
    x = make_video(T)
    with torch.no_grad():
        recon, post = tok16(x)
    tl = _latent_frames(T, 16)
    assert post.mean.shape == (1, 16, tl, 2, 2) and tok16.latent_frames(T) == tl
    assert recon.shape == x.shape and torch.isfinite(recon).all()


def test_geometry_and_history(tok4, tok8, tok16):
    assert (tok8.temporal_compression, tok16.temporal_compression) == (8, 16)
    for tok in (tok8, tok16):
        assert isinstance(tok, GrownTokenizer) and isinstance(tok, VideoTokenizer)
        assert tok.spatial_compression == 8 and tok.latent_channels == 16
    assert tok16.lower is tok8 and tok8.lower is tok4
    assert tok16.latent_shape(33, 128, 128) == (16, 3, 16, 16)
    assert tok16.num_frames(3) == 33 and tok8.num_frames(3) == 17
    stage = {"factor": 2, "mixing": "position_scale_shift", "norm_center": True}
    assert tok16.config.growth == [stage, stage] and tok4.config.growth == []
    assert tok16.config.temporal_compression == 16
    assert "growth=2x on 8x" in repr(tok16)


def test_frame_padding_matches_explicit_padding(tok8):
    """Other lengths are padded at the end by replicating the last frame, as at 4x."""
    x = make_video(11)
    padded = torch.cat([x, x[:, :, -1:].expand(-1, -1, 6, -1, -1)], dim=2)  # 17 = 1 + 8*2
    with torch.no_grad():
        assert torch.equal(tok8.encode(x).mean, tok8.encode(padded).mean)


def test_causality(tok8):
    """Latent j depends on frames <= 8j only, branch A's alignment included."""
    x = make_video(17)
    y = x.clone()
    y[:, :, 9:] = -x[:, :, 9:]
    with torch.no_grad():
        a, b = tok8.encode(x).mean, tok8.encode(y).mean
    assert torch.equal(a[:, :, :2], b[:, :, :2]) and not torch.equal(a[:, :, 2:], b[:, :, 2:])


@pytest.mark.parametrize("mixing", list(MIXING_MODES))
def test_every_mixing_variant_runs_and_streams(tok4, mixing):
    tok = make_grown(tok4, seed=5, mixing=mixing)
    assert tok.mixing == mixing and tok.config.growth[-1]["mixing"] == mixing
    x = make_video(17)
    with torch.no_grad():
        recon, post = tok(x)
        assert recon.shape == x.shape and torch.isfinite(recon).all()
        assert max_diff(tok.encode(x, chunk_frames=8).mean, post.mean) <= 1e-5
    uses_branch_a = mixing != "none"
    assert hasattr(tok.encoder.mix, "affine") == uses_branch_a


def test_mixing_modulates(tok4):
    """With a non-zero affine map, per-position and pooled maps give different features."""
    a = make_grown(tok4, seed=6, mixing="position_scale")
    b = make_grown(tok4, seed=6, mixing="channel_scale")
    x = make_video(9)
    with torch.no_grad():
        assert max_diff(a.encode(x).mean, b.encode(x).mean) > 1e-4


def test_fresh_stage_starts_without_modulation(tok4):
    """The affine map starts at zero: a fresh stage's mixing is a plain normalisation."""
    tok = grow(tok4, mixing="channel_scale_shift")
    assert not tok.encoder.mix.affine.weight.any() and not tok.encoder.mix.affine.bias.any()


def test_custom_norm_switch(tok4):
    tok = make_grown(tok4, norm_center=False)
    assert tok.config.growth[-1]["norm_center"] is False
    assert tok.encoder.block.norm1.center is False and tok.encoder.mix.center is False
    with torch.no_grad():
        assert torch.isfinite(tok(make_video(9))[0]).all()


def test_reference_ops(tok8):
    x = make_video(9)
    with torch.no_grad():
        with ops.use_reference():
            post_r = tok8.encode(x)
            recon_r = tok8.decode(post_r.mode(), num_frames=9)
            assert max_diff(tok8.encode(x, chunk_frames=8).mean, post_r.mean) <= 1e-5
        if ops.kernels_available():
            post_k = tok8.encode(x)
            assert max_diff(post_k.mean, post_r.mean) <= 1e-4
            assert max_diff(tok8.decode(post_k.mode(), num_frames=9), recon_r) <= 1e-4
    assert recon_r.shape == x.shape


def test_bf16():
    tok = make_grown(make_base(seed=7).to(torch.bfloat16), seed=7)  # the stage follows the dtype
    assert all(p.dtype == torch.bfloat16 for p in tok.trainable_parameters())
    x = make_video(9).to(torch.bfloat16)
    with torch.no_grad():
        recon, post = tok(x)
    assert recon.dtype == torch.bfloat16 and torch.isfinite(recon.float()).all()


def test_lazy_export():
    assert bootvid.grow is grow and "grow" in dir(bootvid)


def test_bad_arguments(tok4):
    for factor in (1, 3, 8, True, 2.0, "2"):
        with pytest.raises(ValueError, match=r"factor must be one of \(2, 4\)"):
            grow(tok4, factor=factor)
    for mixing in ("scale", None, "POSITION_SCALE"):
        with pytest.raises(ValueError, match="mixing must be one of"):
            grow(tok4, mixing=mixing)
    with pytest.raises(ValueError, match="norm_center must be True, False or None"):
        grow(tok4, norm_center="yes")
    with pytest.raises(TypeError, match="grow expects a VideoTokenizer"):
        grow(TokenizerConfig.preset("tiny"))


def test_frame_rule_errors(tok8):
    x = make_video(9)
    with pytest.raises(ValueError, match="frame rule"):
        tok8.encode(x, chunk_frames=4)  # a multiple of 4, not of 8
    with pytest.raises(ValueError, match="frame rule"), torch.no_grad():
        tok8.encoder(x[:, :, :8])  # a whole clip must hold 1 + 8k frames


def test_factor_4(tok4):
    tok = make_grown(tok4, factor=4, mixing="channel_scale")
    assert tok.temporal_compression == 16
    x = make_video(18)
    with torch.no_grad():
        post = tok.encode(x)
        assert post.mean.shape[2] == 3
        assert max_diff(tok.encode(x, chunk_frames=16).mean, post.mean) <= 1e-5
        z = post.mode()
        assert max_diff(tok.decode(z, chunk_latents=1), tok.decode(z)) <= 1e-5
