"""The direct baselines growth is compared with: plain tokenizers with more temporal
downsampling (8x, 16x) trained from scratch, optionally initialised from a 4x tokenizer."""

from __future__ import annotations

import pytest
import torch
from grow_helpers import make_base, make_video, max_diff

from bootvid.tokenizer import TokenizerConfig, VideoTokenizer, init_from_lower

SMALL = dict(base_channels=16, norm_groups=4)


def direct(tc: int, seed: int = 3) -> VideoTokenizer:
    torch.manual_seed(seed)
    return VideoTokenizer(TokenizerConfig.direct("tiny", tc, **SMALL)).eval()


@pytest.mark.parametrize("tc", [4, 8, 16])
@pytest.mark.parametrize("T", [1, 2, 9, 17, 20, 33])
def test_direct_shapes_and_frame_rule(tc, T):
    tok = direct(tc)
    assert tok.temporal_compression == tc and tok.spatial_compression == 8
    x = make_video(T)
    with torch.no_grad():
        post = tok.encode(x)
        tl = 1 + -(-(T - 1) // tc)
        assert post.mean.shape == (1, 16, tl, 2, 2) == (1, *tok.latent_shape(T, 16, 16))
        assert tok.decode(post.mode(), num_frames=T).shape == x.shape


@pytest.mark.parametrize("tc", [8, 16])
def test_direct_chunked_equals_whole(tc):
    tok = direct(tc)
    x = make_video(1 + 3 * tc)
    with torch.no_grad():
        whole = tok.encode(x)
        chunked = tok.encode(x, chunk_frames=tc)
        rec = tok.decode(whole.mode())
        rec_chunked = tok.decode(whole.mode(), chunk_latents=1)
    assert max_diff(chunked.mean, whole.mean) <= 1e-5
    assert max_diff(rec_chunked, rec) <= 1e-5


def test_direct_config_round_trip_and_validation(tmp_path):
    tok = direct(16)
    tok.save_pretrained(tmp_path)
    back = VideoTokenizer.from_pretrained(tmp_path)
    assert back.config.temporal_downsample == (2, 2, 4) and back.temporal_compression == 16
    x = make_video(17)
    with torch.no_grad():
        assert torch.equal(back.encode(x).mean, tok.encode(x).mean)
    with pytest.raises(ValueError, match="temporal factors in"):
        TokenizerConfig.preset("tiny", temporal_downsample=(1, 2, 3))
    with pytest.raises(ValueError, match="direct tokenizers compress time"):
        TokenizerConfig.direct("tiny", 32)
    # Flags and factors describe the same model.
    assert TokenizerConfig.preset("tiny").temporal_factors() == [1, 2, 2]


@pytest.mark.parametrize("tc, different", [
    (8, {"decoder.levels.2.up.conv.weight", "decoder.levels.2.up.conv.bias"}),
    (16, {"encoder.levels.2.down.conv.weight", "decoder.levels.0.up.conv.weight",
          "decoder.levels.0.up.conv.bias", "decoder.levels.2.up.conv.weight",
          "decoder.levels.2.up.conv.bias"}),
])
def test_init_from_lower_copies_what_fits(tc, different):
    tok4, tok = make_base(), direct(tc)
    report = init_from_lower(tok, tok4)
    assert set(report.shape_mismatch) == different and not report.missing
    src, dst = tok4.state_dict(), tok.state_dict()
    assert report.copied and all(torch.equal(dst[k], src[k]) for k in report.copied)
    assert len(report.copied) + len(different) == len(dst)
    assert "copied" in str(report)


def test_init_from_lower_errors():
    from bootvid import grow

    tok4 = make_base()
    with pytest.raises(TypeError, match="plain VideoTokenizer"):
        init_from_lower(direct(8), grow(make_base()))
    with pytest.raises(ValueError, match="latent channels differ"):
        init_from_lower(direct(8), make_base(latent_channels=8))
    assert tok4.temporal_compression == 4
