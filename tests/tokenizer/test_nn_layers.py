"""bootvid.nn layers: streaming each layer alone equals running it on the whole clip."""

from __future__ import annotations

import pytest
import torch

from bootvid import ops
from bootvid.nn import (
    AdaptiveGroupNorm,
    CausalConv3d,
    Downsample,
    GroupNormAct,
    ResBlock,
    StreamState,
    Upsample,
)


def _stream(layer, x, sizes, *extra):
    state, out, a = StreamState(), [], 0
    for n in sizes:
        out.append(layer(x[:, :, a:a + n], *[e[:, :, a:a + n] for e in extra], state))
        a += n
    assert a == x.shape[2]
    return torch.cat(out, 2)


def test_causal_conv3d_module_matches_op_and_streams():
    torch.manual_seed(0)
    conv = CausalConv3d(8, 16, 3)
    x = torch.randn(2, 8, 11, 6, 6)
    y = conv(x)
    ref, _ = ops.causal_conv3d(x, conv.weight, conv.bias, padding=(1, 1))
    assert torch.equal(y, ref) and y.shape == (2, 16, 11, 6, 6)
    assert (_stream(conv, x, [3, 1, 5, 2]) - y).abs().max() <= 1e-5
    with pytest.raises(ValueError, match="temporal stride"):
        CausalConv3d(4, 4, (1, 3, 3), stride=(2, 1, 1))


def test_downsample_upsample_frame_rule():
    torch.manual_seed(0)
    down = Downsample(8, temporal=2)
    up = Upsample(8, 4, temporal=2)
    x = torch.randn(1, 8, 9, 8, 8)
    d = down(x)
    assert d.shape == (1, 8, 5, 4, 4)
    u = up(d)
    assert u.shape == (1, 4, 9, 8, 8)
    assert (_stream(down, x, [5, 2, 2]) - d).abs().max() <= 1e-5
    assert (_stream(up, d, [1, 3, 1]) - u).abs().max() <= 1e-5


def test_adaptive_group_norm_streaming_alignment():
    """A later chunk's frames read the latent frames they belong to globally."""
    torch.manual_seed(0)
    norm = AdaptiveGroupNorm(8, 4, num_groups=4)
    r, Tl = 4, 5
    z = torch.randn(1, 4, Tl, 2, 2)
    x = torch.randn(1, 8, 1 + r * (Tl - 1), 8, 8)
    whole = norm(x, z)
    state, outs = StreamState(), []
    for (za, zb), (xa, xb) in (((0, 2), (0, 5)), ((2, 3), (5, 9)), ((3, 5), (9, 17))):
        outs.append(norm(x[:, :, xa:xb], z[:, :, za:zb], state))
    assert (torch.cat(outs, 2) - whole).abs().max() <= 1e-5


def test_resblock_and_norm():
    torch.manual_seed(0)
    block = ResBlock(8, 16, num_groups=4, center=False)
    x = torch.randn(1, 8, 7, 4, 4)
    y = block(x)
    assert y.shape == (1, 16, 7, 4, 4) and block.shortcut is not None
    assert (_stream(block, x, [1, 2, 4]) - y).abs().max() <= 1e-5
    norm = GroupNormAct(8, 4, act="none")
    n = norm(x)
    expected = torch.nn.functional.group_norm(x[:, :, 3], 4, eps=1e-6)
    assert torch.allclose(n[:, :, 3], expected, atol=1e-5)
    with pytest.raises(ValueError, match="groups"):
        GroupNormAct(6, 4)
