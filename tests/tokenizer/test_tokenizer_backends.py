"""The model on the compiled kernels vs the reference ops, under bf16 autocast, and with
channels_last_3d."""

from __future__ import annotations

import pytest
import torch
from tok_helpers import make_tokenizer, make_video, max_diff

from bootvid import ops

# Kernels vs reference twins: both fp32, different summation orders through ~30 layers.
KERNEL_TOL = 1e-4


@pytest.mark.skipif(not ops.kernels_available(),
                    reason=f"bootvid's compiled kernels are not built/loadable here "
                           f"({ops.load_error()}); nothing to compare the reference ops with")
def test_kernels_match_reference(tok):
    x = make_video(9, 32, 32)
    with torch.no_grad():
        post_k = tok.encode(x)
        recon_k = tok.decode(post_k.mode(), num_frames=9)
        stream_k = tok.encode(x, chunk_frames=4).mean
        with ops.use_reference():
            post_r = tok.encode(x)
            recon_r = tok.decode(post_r.mode(), num_frames=9)
    assert max_diff(post_k.mean, post_r.mean) <= KERNEL_TOL
    assert max_diff(post_k.logvar, post_r.logvar) <= KERNEL_TOL
    assert max_diff(recon_k, recon_r) <= KERNEL_TOL
    assert max_diff(stream_k, post_k.mean) <= 1e-5


def test_reference_mode_runs_whole_model(tok):
    x = make_video(5)
    with torch.no_grad(), ops.use_reference():
        recon, post = tok(x)
    assert recon.shape == x.shape and torch.isfinite(recon).all()


def test_bf16_autocast(tok):
    x = make_video(9, 32, 32)
    with torch.no_grad():
        ref, _ = tok(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            recon, post = tok(x)
            z_stream = tok.encode(x, chunk_frames=4).mean
    assert recon.dtype == torch.bfloat16 and post.mean.dtype == torch.bfloat16
    assert recon.shape == x.shape and torch.isfinite(recon.float()).all()
    err = (recon.float() - ref).abs().mean() / ref.abs().mean()
    assert err < 0.05, f"bf16 relative mean error {err:.3f}"
    assert (z_stream.float() - post.mean.float()).abs().max() < 0.1
    assert post.kl().dtype == torch.float32


def test_bf16_weights():
    tok = make_tokenizer().to(torch.bfloat16)
    x = make_video(5).to(torch.bfloat16)
    with torch.no_grad():
        recon, post = tok(x)
    assert recon.dtype == torch.bfloat16 and torch.isfinite(recon.float()).all()


def test_channels_last_3d(tok):
    x = make_video(9, 32, 32)
    with torch.no_grad():
        ref, post_ref = tok(x)
        cl = make_tokenizer().to(memory_format=torch.channels_last_3d)
        recon, post = cl(x.to(memory_format=torch.channels_last_3d))
        streamed = cl.encode(x.to(memory_format=torch.channels_last_3d), chunk_frames=4).mean
    # channels_last_3d runs other oneDNN kernels (another summation order) through ~30 layers:
    # 1.3e-5 measured on an AVX2 EPYC (the 1e-5 this had held on AVX-512 only)
    assert max_diff(recon, ref) <= KERNEL_TOL and max_diff(post.mean, post_ref.mean) <= KERNEL_TOL
    assert max_diff(streamed, post.mean) <= 1e-5  # same layout: streaming is exact


@pytest.fixture
def no_tf32():
    """fp32 comparisons on CUDA need full-precision convs (cuDNN defaults to TF32)."""
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(tok, no_tf32):
    x = make_video(9, 32, 32)
    gpu = make_tokenizer().cuda()
    xc = x.cuda()
    with torch.no_grad():
        ref, post_ref = tok(x)
        recon, post = gpu(xc)
        whole = post.mean
        streamed = gpu.encode(xc, chunk_frames=4).mean
        dec_streamed = gpu.decode(whole, num_frames=9, chunk_latents=1)
        tiled = gpu.decode(whole, num_frames=9, tile_size=16)
        cl = make_tokenizer().cuda().to(memory_format=torch.channels_last_3d)
        recon_cl, _ = cl(xc.to(memory_format=torch.channels_last_3d))
        with torch.autocast("cuda", dtype=torch.bfloat16):
            recon_bf16, _ = gpu(xc)
    assert max_diff(post.mean.cpu(), post_ref.mean) <= 1e-4
    assert max_diff(recon.cpu(), ref) <= 1e-4
    assert max_diff(streamed, whole) <= 1e-5
    assert max_diff(dec_streamed, recon) <= 1e-5
    assert max_diff(tiled, recon) <= 1e-5
    assert max_diff(recon_cl, recon) <= 1e-4
    assert recon_bf16.dtype == torch.bfloat16 and torch.isfinite(recon_bf16.float()).all()
    assert (recon_bf16.float() - recon).abs().mean() / recon.abs().mean() < 0.05
