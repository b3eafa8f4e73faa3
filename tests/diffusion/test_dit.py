"""The video DiT (bootvid.diffusion.dit) and its 3D RoPE (bootvid.diffusion.rope)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from bootvid.diffusion.dit import (DIT_PRESETS, DiT, DiTConfig, dit_config, dit_flops,
                                   dit_flops_breakdown, patchify, unpatchify)
from bootvid.diffusion.rope import apply_rope, grid_positions, rope_3d, rope_cos_sin, rope_split


def make_model(seed: int = 0, perturb: bool = True, **overrides) -> DiT:
    """A "test"-preset DiT; ``perturb`` fills the zero-initialised tensors (adaLN gates, output
    layer, biases) with small random values so that every path of the model is live."""
    torch.manual_seed(seed)
    model = DiT(dit_config("test", in_channels=4, **overrides))
    if perturb:
        with torch.no_grad():
            for p in model.parameters():
                if not p.any():
                    p.normal_(0.0, 0.1)
    return model.eval()


def latent(B=2, C=4, T=3, H=4, W=6, seed=1, **kw) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, C, T, H, W, generator=g, **kw)


# ---- config --------------------------------------------------------------------------------

def test_config_round_trip_and_errors():
    cfg = dit_config("test", patch_size=[2, 2, 2], num_classes=5)
    assert cfg.patch_size == (2, 2, 2)
    d = json.loads(json.dumps(cfg.to_dict()))
    assert DiTConfig.from_dict(d) == cfg
    with pytest.raises(ValueError, match="bogus"):
        DiTConfig.from_dict({**d, "bogus": 1})
    with pytest.raises(ValueError, match="divisible by num_heads"):
        DiTConfig(hidden_size=30, num_heads=4)
    with pytest.raises(ValueError, match="RoPE"):
        DiTConfig(hidden_size=8, num_heads=2)  # head_dim 4 < 6
    with pytest.raises(ValueError, match="RoPE"):
        DiTConfig(hidden_size=14, num_heads=2)  # head_dim 7: odd
    with pytest.raises(ValueError, match="patch_size"):
        DiTConfig(patch_size=(1, 0, 2))
    with pytest.raises(ValueError, match="depth"):
        DiTConfig(depth=0)
    with pytest.raises(ValueError, match="presets.*base"):
        dit_config("huge")
    assert set(DIT_PRESETS) >= {"test", "tiny", "small", "base"}
    assert DiT(dit_config("test"), num_classes=3).config.num_classes == 3


def test_rope_split_rule():
    assert rope_split(64) == (24, 20, 20)
    assert rope_split(16) == (8, 4, 4)
    assert rope_split(6) == (2, 2, 2)
    for d in range(6, 130, 2):
        parts = rope_split(d)
        assert sum(parts) == d and all(p % 2 == 0 and p >= 2 for p in parts)


# ---- patchify ------------------------------------------------------------------------------

@pytest.mark.parametrize("patch,shape", [((1, 2, 2), (3, 5, 6, 10)), ((2, 2, 2), (2, 4, 6, 2)),
                                         ((1, 1, 1), (1, 3, 3, 5)), ((4, 1, 3), (5, 8, 7, 9))])
def test_patchify_round_trip(patch, shape):
    x = torch.randn(2, *shape)
    tokens, grid = patchify(x, patch)
    C, T, H, W = shape
    assert grid == (T // patch[0], H // patch[1], W // patch[2])
    assert tokens.shape == (2, math.prod(grid), C * math.prod(patch))
    assert torch.equal(unpatchify(tokens, grid, patch), x)
    # Any memory layout gives the same tokens.
    x_cl = x.contiguous(memory_format=torch.channels_last_3d)
    assert torch.equal(patchify(x_cl, patch)[0], tokens)


def test_patchify_token_order_is_t_major():
    C, T, H, W, patch = 3, 5, 6, 10, (1, 2, 2)
    x = torch.randn(1, C, T, H, W)
    tokens, (Tg, Hg, Wg) = patchify(x, patch)
    for t, h, w in [(0, 0, 1), (0, 1, 0), (1, 0, 0), (4, 2, 4), (2, 1, 3)]:
        n = (t * Hg + h) * Wg + w
        expected = x[0, :, t, 2 * h:2 * h + 2, 2 * w:2 * w + 2].reshape(-1)  # c-major
        assert torch.equal(tokens[0, n], expected)
    # RoPE positions follow the same order.
    assert grid_positions((Tg, Hg, Wg)).tolist() == [
        [t, h, w] for t in range(Tg) for h in range(Hg) for w in range(Wg)]


# ---- RoPE ----------------------------------------------------------------------------------

def _scores(q, k, pos_q, pos_k, head_dim):
    cq, sq = rope_cos_sin(pos_q, head_dim)
    ck, sk = rope_cos_sin(pos_k, head_dim)
    return apply_rope(q, cq, sq) @ apply_rope(k, ck, sk).transpose(-1, -2)


def test_rope_scores_depend_only_on_relative_position():
    torch.manual_seed(0)
    D = 16
    q, k = torch.randn(2, 2, 7, D), torch.randn(2, 2, 7, D)
    pos_q = torch.randint(0, 9, (7, 3)).float()
    pos_k = torch.randint(0, 9, (7, 3)).float()
    ref = _scores(q, k, pos_q, pos_k, D)
    for shift in [(3, 0, 0), (0, 5, 0), (0, 0, 7), (11, -4, 2)]:
        s = torch.tensor(shift, dtype=torch.float32)
        # fp32 angles: exact up to rounding.
        torch.testing.assert_close(_scores(q, k, pos_q + s, pos_k + s, D), ref, atol=1e-4,
                                   rtol=1e-4)
    # ... and each axis does matter: moving q alone along any one axis changes the scores.
    for axis in range(3):
        moved = pos_q.clone()
        moved[:, axis] += 1
        assert not torch.allclose(_scores(q, k, moved, pos_k, D), ref, atol=1e-2)


def test_rope_position_zero_is_identity_and_bf16():
    x = torch.randn(2, 3, 1, 16)
    cos, sin = rope_3d((1, 1, 1), 16)
    assert cos.shape == (1, 1, 1, 16)
    assert torch.equal(apply_rope(x, cos, sin), x)
    cos, sin = rope_3d((2, 3, 4), 16)
    xb = torch.randn(2, 3, 24, 16).bfloat16()
    out = apply_rope(xb, cos, sin)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), apply_rope(xb.float(), cos, sin), atol=2e-2, rtol=2e-2)
    # A rotation keeps norms.
    torch.testing.assert_close(out.float().norm(dim=-1), xb.float().norm(dim=-1), atol=5e-2,
                               rtol=2e-2)


# ---- the model -----------------------------------------------------------------------------

def test_zero_output_at_init_then_nonzero():
    model = make_model(perturb=False)
    x = latent()
    out = model(x, torch.rand(2))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.count_nonzero(out) == 0  # adaLN-Zero: the output layer starts at zero
    with torch.no_grad():
        model.final_layer.linear.bias.normal_()
    assert model(x, torch.rand(2)).abs().min() > 0
    # A model in bf16 on bf16 latents keeps the dtype too.
    xb = x.bfloat16()
    assert make_model().bfloat16()(xb, 0.5).dtype == torch.bfloat16


def test_unseen_latent_lengths_and_layouts():
    model = make_model()
    params = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for T, H, W in [(1, 4, 6), (3, 4, 6), (9, 4, 6), (5, 10, 2)]:
            out = model(latent(T=T, H=H, W=W), 0.3)
            assert out.shape == (2, 4, T, H, W) and torch.isfinite(out).all()
            assert out.abs().max() > 0
        x = latent(T=3)
        x_cl = x.contiguous(memory_format=torch.channels_last_3d)
        torch.testing.assert_close(model(x_cl, 0.3), model(x, 0.3))
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in params.items())


def test_conditioning_on_t_and_y():
    model = make_model(num_classes=5)
    x = latent()
    with torch.no_grad():
        a = model(x, torch.tensor([0.2, 0.7]), torch.tensor([1, 3]))
        assert not torch.allclose(a, model(x, torch.tensor([0.25, 0.7]), torch.tensor([1, 3])))
        assert not torch.allclose(a, model(x, torch.tensor([0.2, 0.7]), torch.tensor([2, 3])))
        # A float or 0-d t broadcasts over the batch.
        torch.testing.assert_close(model(x, 0.4, torch.tensor([1, 3])),
                                   model(x, torch.full((2,), 0.4), torch.tensor([1, 3])))
        torch.testing.assert_close(model(x, torch.tensor(0.4), torch.tensor([1, 3])),
                                   model(x, 0.4, torch.tensor([1, 3])))
        # y=None is the null label.
        assert model.null_label == 5
        assert torch.equal(model(x, 0.4), model(x, 0.4, torch.full((2,), 5)))
        # Samples of a batch are independent (attention stays within a sample).
        torch.testing.assert_close(model(x[1:], torch.tensor([0.7]), torch.tensor([3])), a[1:])


def test_errors():
    model = make_model(patch_size=(2, 2, 2))
    with pytest.raises(ValueError, match="rank 4"):
        model(torch.randn(2, 4, 4, 4), 0.5)
    with pytest.raises(ValueError, match="3 channels.*in_channels=4"):
        model(torch.randn(1, 3, 2, 4, 4), 0.5)
    with pytest.raises(ValueError, match="T=3.*patch size 2"):
        model(torch.randn(1, 4, 3, 4, 4), 0.5)
    with pytest.raises(ValueError, match="W=5.*patch size 2"):
        model(torch.randn(1, 4, 2, 4, 5), 0.5)
    with pytest.raises(ValueError, match="dtype torch.int64"):
        model(torch.zeros(1, 4, 2, 4, 4, dtype=torch.long), 0.5)
    with pytest.raises(ValueError, match="unconditional"):
        model(torch.randn(1, 4, 2, 4, 4), 0.5, torch.tensor([0]))
    with pytest.raises(ValueError, match="shape \\[B\\]"):
        model(torch.randn(2, 4, 2, 4, 4), torch.rand(3))
    cond = make_model(num_classes=3)
    with pytest.raises(ValueError, match="labels must be in 0..2"):
        cond(latent(), 0.5, torch.tensor([0, 4]))


def test_gradient_reaches_every_parameter():
    model = make_model(num_classes=3).train()
    x = latent(B=3)
    # Labels include the null one so its embedding row is used too.
    out = model(x, torch.rand(3), torch.tensor([0, 2, 3]))
    out.square().mean().backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert no_grad == []
    # At init (zero gates), the backward still runs and reaches the output layer.
    model = make_model(perturb=False).train()
    model(x, torch.rand(3)).sub(x).square().mean().backward()
    assert model.final_layer.linear.weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.parameters())


def test_bf16_autocast_close_to_fp32():
    model = make_model()
    x = latent()
    with torch.no_grad():
        ref = model(x, torch.tensor([0.3, 0.8]))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x, torch.tensor([0.3, 0.8]))
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    err = (out - ref).abs().max() / ref.abs().max()
    assert err < 0.05, err


# ---- persistence ---------------------------------------------------------------------------

def test_save_load_round_trip(tmp_path):
    model = make_model(num_classes=4)
    meta = {"step": 123, "tokenizer": "bootvid-4x", "latent_scale": 0.5}
    model.save_pretrained(tmp_path / "m", metadata=meta)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json",
                                                                  "model.safetensors"]
    saved = json.loads((tmp_path / "m" / "config.json").read_text())
    assert saved["model"] == "DiT" and saved["config"] == model.config.to_dict()
    loaded = DiT.from_pretrained(tmp_path / "m")
    assert loaded.config == model.config and not loaded.training
    x, y = latent(), torch.tensor([0, 3])
    with torch.no_grad():
        assert torch.equal(loaded(x, 0.6, y), model(x, 0.6, y))
    assert DiT.read_metadata(tmp_path / "m") == meta


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="directory not found.*nowhere"):
        DiT.from_pretrained(tmp_path / "nowhere")
    d = tmp_path / "m"
    make_model().save_pretrained(d)
    data = json.loads((d / "config.json").read_text())
    # Another config than the weights were saved with: the file and tensor are named.
    (d / "config.json").write_text(json.dumps({**data, "config": {**data["config"],
                                                                 "in_channels": 3}}))
    with pytest.raises(ValueError, match="model.safetensors.*x_embedder.weight.*shape"):
        DiT.from_pretrained(d)
    (d / "config.json").write_text(json.dumps({**data, "model": "VideoTokenizer"}))
    with pytest.raises(ValueError, match="config.json does not describe a DiT"):
        DiT.from_pretrained(d)
    (d / "config.json").write_text(json.dumps(data))
    (d / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        DiT.from_pretrained(d)


# ---- FLOPs ---------------------------------------------------------------------------------

def test_flops_scaling():
    cfg = dit_config("tiny", in_channels=16)
    small, big = dit_flops(cfg, (16, 3, 16, 16)), dit_flops(cfg, (16, 9, 16, 16))
    assert 0 < small and big >= 3 * small  # 3x the tokens: attention grows superlinearly
    assert dit_flops(cfg, (16, 3, 16, 32)) > small
    with pytest.raises(ValueError, match="does not suit"):
        dit_flops(cfg, (16, 3, 15, 16))


def test_flops_match_flop_counter():
    from torch.utils.flop_counter import FlopCounterMode

    model = make_model(num_classes=3)
    shape = (4, 3, 4, 6)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(latent(B=1, T=3, H=4, W=6), 0.5, torch.tensor([1]))
    parts = dit_flops_breakdown(model.config, shape)
    # FlopCounterMode counts every matmul but not CPU SDPA: compare the rest exactly, and the
    # attention part against a hand count (scores and weighted sum: 2 * N^2 * hidden each).
    N, D, L = 3 * 2 * 3, 32, 2
    assert parts["attention"] == L * 2 * (2 * N * N * D)
    assert counter.get_total_flops() == dit_flops(model.config, shape) - parts["attention"]


def test_rope_frequencies_follow_the_split():
    D, theta = 16, 100.0
    d_t, d_h, d_w = rope_split(D)  # 8, 4, 4
    cos, sin = rope_cos_sin(torch.tensor([[1.0, 2.0, 3.0]]), D, theta)
    angles = torch.atan2(sin[0, 0, 0], cos[0, 0, 0])[:D // 2]  # channel j pairs with j + D/2
    expected = torch.cat([1.0 * theta ** (-torch.arange(0, d_t, 2) / d_t),
                          2.0 * theta ** (-torch.arange(0, d_h, 2) / d_h),
                          3.0 * theta ** (-torch.arange(0, d_w, 2) / d_w)])
    torch.testing.assert_close(angles, expected)
    torch.testing.assert_close(cos[..., D // 2:], cos[..., :D // 2])
