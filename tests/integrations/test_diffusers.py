"""bootvid.integrations.diffusers: a bootvid tokenizer behind diffusers' autoencoder interface."""

from __future__ import annotations

import json
import os

import pytest
import torch

diffusers = pytest.importorskip("diffusers", reason="the diffusers integration needs "
                                "`pip install bootvid[diffusers]`")

from bootvid.growth import grow  # noqa: E402
from bootvid.integrations.diffusers import AutoencoderBootvid  # noqa: E402
from bootvid.tokenizer import TokenizerConfig, VideoTokenizer  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")

SMALL = {"base_channels": 16, "norm_groups": 4}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A bootvid 4x model and an 8x model grown on it, saved the bootvid way."""
    root = tmp_path_factory.mktemp("bootvid_models")
    torch.manual_seed(0)
    tok = VideoTokenizer(TokenizerConfig.preset("tiny", **SMALL)).eval()
    tok.save_pretrained(root / "tok4")
    tok8 = grow(tok, 2).eval()
    with torch.no_grad():  # a freshly grown stage is exact on static clips: make it not
        for p in tok8.trainable_parameters():
            p.add_(0.01 * torch.randn_like(p))
    tok8.save_pretrained(root / "tok8")
    return root


def _clip(T=13, H=40, W=56, B=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(B, 3, T, H // 8, W // 8, generator=g) * 2 - 1
    return torch.nn.functional.interpolate(low, size=(T, H, W), mode="trilinear")


def _video_vae_calls(vae, x: torch.Tensor) -> torch.Tensor:
    """What diffusers' video pipelines and training scripts do with a video VAE."""
    vae.eval()
    with torch.no_grad():
        dist = vae.encode(x).latent_dist
        z = dist.sample(generator=torch.Generator().manual_seed(0))
        assert z.shape == dist.mode().shape and z.shape[0] == x.shape[0]
        (first,) = vae.encode(x, return_dict=False)
        torch.testing.assert_close(first.mode(), dist.mode())
        out = vae.decode(dist.mode()).sample
        vae.enable_tiling()
        vae.enable_slicing()
        tiled = vae.decode(dist.mode()).sample
        vae.disable_tiling()
        vae.disable_slicing()
    assert out.shape[:2] == x.shape[:2] and out.shape[-2:] == x.shape[-2:]
    assert tiled.shape == out.shape
    return out


@pytest.mark.parametrize("name, frames", [("tok4", 13), ("tok8", 17)])
def test_same_frames_as_the_bootvid_api(saved, name, frames):
    tok = VideoTokenizer.from_pretrained(saved / name)
    vae = AutoencoderBootvid.from_pretrained(saved / name)
    assert (vae.temporal_compression_ratio, vae.spatial_compression_ratio) == (
        tok.temporal_compression, 8)
    x = _clip(T=frames)
    with torch.no_grad():
        want_z = tok.encode(x).mode()
        want = tok.decode(want_z, num_frames=frames).clamp(-1, 1)
        dist = vae.encode(x).latent_dist
        torch.testing.assert_close(dist.mode(), want_z, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(vae.decode(dist.mode(), num_frames=frames).sample, want,
                                   atol=1e-5, rtol=1e-5)
        # exact tiling and slicing: the same frames
        vae.enable_tiling(tile_sample_min_height=16, tile_sample_min_width=24)
        vae.enable_slicing()
        torch.testing.assert_close(vae.encode(x).latent_dist.mode(), want_z, atol=1e-5,
                                   rtol=1e-5)
        torch.testing.assert_close(vae.decode(dist.mode(), num_frames=frames).sample, want,
                                   atol=1e-5, rtol=1e-5)
        assert vae.tile_size == 16
        vae.disable_tiling()
        vae.disable_slicing()
        full = vae(x).sample  # forward: encode, mode, decode at the input's length
    torch.testing.assert_close(full, want, atol=1e-5, rtol=1e-5)


def test_save_pretrained_round_trip_and_latent_statistics(saved, tmp_path):
    stats = tmp_path / "latents.json"
    mean, std = [0.1 * c for c in range(16)], [1.0 + 0.05 * c for c in range(16)]
    stats.write_text(json.dumps({"mean": mean, "std": std}))
    vae = AutoencoderBootvid.from_pretrained(saved / "tok8", latent_stats=str(stats))
    assert vae.config.latents_mean == mean and vae.config.latents_std == std
    # pooled: (z - shift) * scale has unit variance over all channels
    m, s = torch.tensor(mean, dtype=torch.float64), torch.tensor(std, dtype=torch.float64)
    assert vae.config.shift_factor == pytest.approx(float(m.mean()))
    pooled_var = float((s ** 2 + (m - m.mean()) ** 2).mean())
    assert vae.config.scaling_factor == pytest.approx(pooled_var ** -0.5)
    vae.save_pretrained(tmp_path / "diffusers_dir")
    assert set(os.listdir(tmp_path / "diffusers_dir")) == {"config.json",
                                                          "diffusion_pytorch_model.safetensors"}
    again = AutoencoderBootvid.from_pretrained(tmp_path / "diffusers_dir")
    assert again.config.scaling_factor == vae.config.scaling_factor
    x = _clip(T=9, B=1)
    with torch.no_grad():
        z = vae.encode(x).latent_dist.mode()
        torch.testing.assert_close(again.decode(z).sample, vae.decode(z).sample)
    assert again.config.tokenizer_config["growth"]  # the grown model stays grown
    vae.save_pretrained(tmp_path / "pipeline" / "vae")  # as in a pipeline's directory
    inside = AutoencoderBootvid.from_pretrained(tmp_path / "pipeline", subfolder="vae")
    assert inside.config.scaling_factor == vae.config.scaling_factor
    with pytest.raises(ValueError, match="variant not supported"):
        AutoencoderBootvid.from_pretrained(saved / "tok4", variant="fp16")
    with pytest.raises(ValueError, match="per-channel 'mean' and 'std' of 16"):
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"mean": [0.0], "std": [1.0]}))
        AutoencoderBootvid.from_pretrained(saved / "tok4", latent_stats=str(bad))
    with pytest.raises(FileNotFoundError, match="model not found"):
        AutoencoderBootvid.from_pretrained(tmp_path / "nothing_here")


def test_the_calls_that_work_on_diffusers_video_vaes_work_on_it(saved):
    """The same sequence of calls on diffusers' own AutoencoderKLWan and on ours."""
    torch.manual_seed(0)
    wan = diffusers.AutoencoderKLWan(base_dim=8, z_dim=4, dim_mult=[1, 1, 1, 1],
                                     num_res_blocks=1, temperal_downsample=[False, True, True],
                                     latents_mean=[0.0] * 4, latents_std=[1.0] * 4)
    x = _clip(T=9, H=32, W=32, B=2)
    ours = _video_vae_calls(AutoencoderBootvid.from_pretrained(saved / "tok4"), x)
    theirs = _video_vae_calls(wan, x)
    assert ours.shape == theirs.shape == x.shape


def test_a_training_step_through_the_adapter(saved):
    """diffusers-style fine-tuning code: gradients reach the bootvid weights."""
    vae = AutoencoderBootvid.from_pretrained(saved / "tok4").train()
    x = _clip(T=5, H=16, W=16, B=1)
    out = vae(x, sample_posterior=True, generator=torch.Generator().manual_seed(0)).sample
    (out - x).abs().mean().backward()
    grads = [p.grad for p in vae.parameters() if p.requires_grad]
    assert grads and all(g is not None for g in grads[:5])
