"""Patchified tokenizers (``patch_size`` 2 / 4, Haar or shuffle) and the parameter-free
resampling shortcuts: the tokenizer suite's properties at 4x, 8x and 16x, and the Haar basis."""

from __future__ import annotations

import json

import pytest
import torch
from tok_helpers import make_video, max_diff

from bootvid import grow, ops
from bootvid.nn import Patchify, haar_matrix
from bootvid.nn.resample import channel_to_space_time_repeat, space_time_to_channel_mean
from bootvid.tokenizer import TokenizerConfig, VideoTokenizer

# The fast preset's layout at a few channels (wiring and exactness, not quality), and a
# patch-2 variant of tiny (two learned steps) without shortcuts.
SMALL = {
    "fast-haar": ("fast", dict(base_channels=4, norm_groups=4)),
    "fast-shuffle": ("fast", dict(base_channels=4, norm_groups=4, patch_method="shuffle")),
    "patch2": ("tiny", dict(base_channels=8, norm_groups=4, patch_size=2,
                            channel_multipliers=(1, 2, 2))),
}


def build(kind: str, tc: int = 4, how: str = "direct", seed: int = 0) -> VideoTokenizer:
    preset, kw = SMALL[kind]
    torch.manual_seed(seed)
    if how == "grown" and tc > 4:
        tok = VideoTokenizer(TokenizerConfig.direct(preset, 4, **kw))
        for _ in range({8: 1, 16: 2}[tc]):
            tok = grow(tok)
        with torch.no_grad():  # the stage's zero-initialised convs: give them values
            g = torch.Generator().manual_seed(seed + 1)
            for p in tok.trainable_parameters():
                if not p.any():
                    p.copy_(torch.randn(p.shape, generator=g) * 0.1)
        return tok.eval()
    return VideoTokenizer(TokenizerConfig.direct(preset, tc, **kw)).eval()


MODELS = [(k, tc, how) for k in SMALL for tc, how in
          ((4, "direct"), (8, "direct"), (16, "direct"), (8, "grown"), (16, "grown"))]
IDS = [f"{k}-{how}{tc}x" for k, tc, how in MODELS]


@pytest.fixture(scope="module", params=MODELS, ids=IDS)
def model(request):
    return build(*request.param)


def test_haar_basis_is_orthonormal_and_its_first_band_is_the_mean():
    for p in (2, 4):
        m = haar_matrix(p)
        assert torch.allclose(m @ m.t(), torch.eye(p * p, dtype=m.dtype), atol=1e-12)
        assert torch.allclose(m[0], torch.full((p * p,), 1.0 / p, dtype=m.dtype))
    with pytest.raises(ValueError, match="power of two"):
        haar_matrix(3)


@pytest.mark.parametrize("method", ["shuffle", "haar"])
@pytest.mark.parametrize("p", [1, 2, 4])
def test_patchify_inverts_and_keeps_energy(method, p):
    x = make_video(5, 16, 24, B=2)
    patch = Patchify(p, method)
    y = patch(x)
    assert y.shape == (2, 3 * p * p, 5, 16 // p, 24 // p)
    assert max_diff(patch.inverse(y), x) <= 1e-6
    assert abs(y.pow(2).sum().item() - x.pow(2).sum().item()) <= 1e-3 * x.pow(2).sum().item()
    if method == "haar" and p > 1:  # band 0 of each channel is the block mean times p
        blocks = x.unfold(3, p, p).unfold(4, p, p).mean(dim=(-1, -2))
        assert max_diff(y[:, ::p * p], blocks * p) <= 1e-5


def test_resampling_shortcuts_average_and_repeat():
    x = make_video(9, 8, 8, B=1)
    x = torch.cat([x, -x], dim=1)  # 6 channels
    down = space_time_to_channel_mean(x, (2, 2, 2), 6, first=True)
    assert down.shape == (1, 6, 5, 4, 4)
    # frame 0 averages the replicated first frame with itself: its 2x2 spatial mean
    assert max_diff(down[:, :, 0], torch.nn.functional.avg_pool2d(x[:, :, 0], 2)) <= 1e-6
    pooled = torch.nn.functional.avg_pool3d(x[:, :, 1:], 2)
    # with as many output channels as input, the mean runs over each channel's 8 sub-pixels
    assert max_diff(down[:, :, 1:], pooled) <= 1e-6
    up = channel_to_space_time_repeat(down, (2, 2, 2), 6, first=True)
    assert up.shape == (1, 6, 9, 8, 8)
    nearest = down[:, :, 1:].repeat_interleave(2, 2).repeat_interleave(2, 3).repeat_interleave(2, 4)
    assert max_diff(up[:, :, 1:], nearest) == 0


def test_model_geometry(model, request):
    assert model.spatial_compression == 8
    assert f"{model.temporal_compression}x" in request.node.callspec.id
    x = make_video(17, 16, 24)
    with torch.no_grad():
        post = model.encode(x)
        tc = model.temporal_compression
        assert post.mean.shape == (1, 16, 1 + 16 // tc, 2, 3)
        assert model.decode(post.mode(), num_frames=17).shape == x.shape


@pytest.mark.parametrize("T", [1, 2, 5, 9, 18])
def test_frame_count_rule(model, T):
    x = make_video(T, 8, 8)
    with torch.no_grad():
        recon, post = model(x)
    assert recon.shape == x.shape
    assert post.mean.shape[2] == model.latent_frames(T)


def test_chunked_equals_whole(model):
    tc = model.temporal_compression
    x = make_video(1 + 2 * tc, 16, 16)
    with torch.no_grad():
        whole = model.encode(x).mean
        chunked = model.encode(x, chunk_frames=tc).mean
        z = whole
        dec_whole = model.decode(z)
        dec_chunked = model.decode(z, chunk_latents=1)
    assert max_diff(chunked, whole) <= 1e-5
    assert max_diff(dec_chunked, dec_whole) <= 1e-5


def test_tiling_exact(model):
    x = make_video(9, 32, 32)
    with torch.no_grad():
        z = model.encode(x).mean
        zt = model.encode(x, tile_size=4).mean
        y = model.decode(z, num_frames=9)
        yt = model.decode(z, num_frames=9, tile_size=4)
    assert max_diff(zt, z) <= 1e-5
    assert max_diff(yt, y) <= 1e-5


def test_save_load(model, tmp_path):
    model.save_pretrained(tmp_path)
    loaded = VideoTokenizer.from_pretrained(tmp_path)
    assert loaded.config == model.config
    x = make_video(9, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded(x)[0], model(x)[0])


@pytest.mark.skipif(not ops.kernels_available(), reason="bootvid's kernels are not built here")
def test_kernels_match_reference(model):
    x = make_video(9, 16, 16)
    with torch.no_grad():
        a = model(x)[0]
        with ops.use_reference():
            b = model(x)[0]
    assert max_diff(a, b) <= 1e-4


def test_backward_reaches_every_trainable_parameter():
    tok = build("fast-haar").train()
    x = make_video(9, 16, 16)
    recon, post = tok(x)
    (recon - x).abs().mean().backward()
    missing = [n for n, p in tok.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert missing == []


def test_old_configs_load_unpatchified(tmp_path):
    d = TokenizerConfig.preset("tiny").to_dict()
    for k in ("patch_size", "patch_method", "resample_shortcut", "spatial_downsample"):
        d.pop(k)
    cfg = TokenizerConfig.from_dict(d)
    assert cfg.patch_size == 1 and not cfg.resample_shortcut
    assert cfg.spatial_downsample == (True, True, True) and cfg.spatial_compression == 8
    (tmp_path / "config.json").write_text(json.dumps(d))
    assert TokenizerConfig.from_file(tmp_path / "config.json") == TokenizerConfig.preset("tiny")


@pytest.mark.parametrize("kwargs, match", [
    (dict(patch_size=3), "patch_size"),
    (dict(patch_method="dct"), "patch_method"),
    (dict(spatial_downsample=(True,)), "spatial_downsample"),
    (dict(resample_shortcut="yes"), "resample_shortcut"),
])
def test_patch_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TokenizerConfig.preset("fast", **kwargs)


def test_fast_preset_family():
    fast = TokenizerConfig.preset("fast")
    assert (fast.spatial_compression, fast.temporal_compression) == (8, 4)
    for tc in (4, 8, 16):
        cfg = TokenizerConfig.direct("fast", tc)
        assert cfg.temporal_compression == tc and cfg.spatial_compression == 8
    with pytest.raises(ValueError, match="compress time"):
        TokenizerConfig.direct("fast", 32)


@pytest.mark.parametrize("mixing", ["position_scale_shift", "none"])
def test_fresh_growth_stage_starts_as_average_and_repeat(mixing):
    """A freshly grown stage (shortcuts on) encodes a static clip to the lower latent and decodes
    it through the lower decoder: it reconstructs the clip exactly as its lower model does.
    Without the shortcuts a fresh stage is far off (the test can fail)."""
    x = make_video(1, 16, 16).expand(-1, -1, 17, -1, -1).contiguous()  # a static clip
    for shortcut, close in ((True, True), (False, False)):
        torch.manual_seed(0)
        lower = VideoTokenizer(TokenizerConfig.preset(
            "fast", base_channels=4, norm_groups=4, resample_shortcut=shortcut)).eval()
        with torch.no_grad():
            ref = lower(x)[0]
            for _ in range(2):  # 8x, then 16x on top
                lower = grow(lower, mixing=mixing).eval()
                recon = lower(x)[0]
                err = max_diff(recon, ref)
                assert (err <= 1e-4) == close, (shortcut, lower.temporal_compression, err)


def test_shortcut_channel_rule_is_checked_with_the_config():
    with pytest.raises(ValueError, match="resample_shortcut: step 0"):
        TokenizerConfig.preset("tiny", base_channels=3, norm_groups=1,
                               channel_multipliers=(1, 5, 5, 5), resample_shortcut=True)


def test_fingerprint_of_unpatchified_models_ignores_the_new_fields(monkeypatch):
    """Latents written before patch_size & co. existed record a fingerprint hashed without
    them: an unpatchified model must still give that fingerprint."""
    from bootvid.tokenizer.persistence import model_fingerprint

    tok = VideoTokenizer(TokenizerConfig.preset("tiny", base_channels=8, norm_groups=4))
    now = model_fingerprint(tok)
    to_dict = TokenizerConfig.to_dict

    def old_to_dict(self):
        d = to_dict(self)
        for k in ("patch_size", "patch_method", "resample_shortcut", "spatial_downsample"):
            d.pop(k)
        return d

    monkeypatch.setattr(TokenizerConfig, "to_dict", old_to_dict)
    assert model_fingerprint(tok) == now
