"""Property tests (hypothesis, a few examples each; see conftest.py for the profile):
random shapes, layouts, chunk splits and alignments; kernel == reference == composite."""

from __future__ import annotations

import pytest
import torch

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import composites as comp  # noqa: E402
from bootvid import ops  # noqa: E402
from helpers import (LAYOUTS, assert_close, assert_equal, assert_rel_close, f64,  # noqa: E402
                     rand)

layouts = st.sampled_from(LAYOUTS)


@st.composite
def conv_problem(draw):
    kt = draw(st.integers(1, 4))
    s_t = draw(st.integers(1, kt))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 2]))
    cin = groups * draw(st.integers(1, 3))
    cout = groups * draw(st.integers(1, 3))
    H, W = draw(st.integers(max(kh, 1), 9)), draw(st.integers(max(kw, 1), 9))
    # chunk lengths: the first 1 + st*m frames, the rest multiples of st
    first = 1 + s_t * draw(st.integers(0, 3))
    rest = [s_t * draw(st.integers(1, 3)) for _ in range(draw(st.integers(0, 3)))]
    return dict(kt=kt, st=s_t, kh=kh, kw=kw, groups=groups, cin=cin, cout=cout, H=H, W=W,
                chunks=[first] + rest, sh=draw(st.integers(1, 2)), sw=draw(st.integers(1, 2)),
                ph=draw(st.integers(0, kh // 2)), pw=draw(st.integers(0, kw // 2)),
                pad_mode=draw(st.sampled_from(["replicate", "zeros"])),
                bias=draw(st.booleans()), layout=draw(layouts), seed=draw(st.integers(0, 1000)))


@given(conv_problem())
def test_conv_stream_any_split(p):
    """Any valid chunk split through the cache == the whole video == the composite."""
    T = sum(p["chunks"])
    x = rand(1, p["cin"], T, p["H"], p["W"], layout=p["layout"], seed=p["seed"])
    w = rand(p["cout"], p["cin"] // p["groups"], p["kt"], p["kh"], p["kw"], seed=p["seed"] + 1,
             scale=0.3)
    b = rand(p["cout"], seed=p["seed"] + 2) if p["bias"] else None
    stride, padding = (p["st"], p["sh"], p["sw"]), (p["ph"], p["pw"])
    whole, whole_c = ops.causal_conv3d(x, w, b, stride, padding, p["pad_mode"])
    assert whole.shape[2] == (T - 1) // p["st"] + 1
    ey, ec = comp.causal_conv3d(*f64(x, w, b), stride, padding, p["pad_mode"])
    assert_rel_close(whole, ey, torch.float32, f"whole {p}")
    assert_rel_close(whole_c, ec, torch.float32, f"new_cache {p}")
    ys, cache, t = [], None, 0
    for n in p["chunks"]:
        y, cache = ops.causal_conv3d(x[:, :, t:t + n], w, b, stride, padding, p["pad_mode"], cache)
        ys.append(y)
        t += n
    assert_rel_close(torch.cat(ys, 2), whole, torch.float32, f"chunked {p}", tol=1e-5)
    assert_rel_close(cache, whole_c, torch.float32, f"last cache {p}", tol=1e-5)


@given(C=st.integers(1, 6), G=st.integers(1, 3), T=st.integers(1, 6), H=st.integers(1, 9),
       W=st.integers(1, 9), per_frame=st.booleans(), center=st.booleans(),
       act=st.sampled_from(["silu", "none"]), affine=st.booleans(), layout=layouts,
       seed=st.integers(0, 1000))
def test_group_norm_act_random_shapes(C, G, T, H, W, per_frame, center, act, affine, layout, seed):
    C *= G
    x = rand(2, C, T, H, W, layout=layout, seed=seed, requires_grad=True)
    w = rand(C, seed=seed + 1, requires_grad=True) if affine else None
    b = rand(C, seed=seed + 2, requires_grad=True) if affine else None
    # eps large enough that a group of a single element (H = W = C/G = 1) stays well-conditioned
    eps = 1e-3
    y = ops.group_norm_act(x, G, w, b, eps, per_frame, center, act)
    with ops.use_reference():
        ry = ops.group_norm_act(x, G, w, b, eps, per_frame, center, act)
    ex, ew, eb = f64(x, w, b)
    ey = comp.group_norm_act(ex, G, ew, eb, eps, per_frame, center, act)
    assert_close(y, ey, torch.float32, "kernel")
    assert_close(ry, ey, torch.float32, "reference")
    gy = rand(*y.shape, seed=seed + 3)
    ins = [t for t in (x, w, b) if t is not None]
    g = torch.autograd.grad(y, ins, gy)
    rg = torch.autograd.grad(ry, ins, gy)
    eg = torch.autograd.grad(ey, [t for t in (ex, ew, eb) if t is not None], gy.double())
    # floor: with one element per group (C/G = H = W = 1, per frame) grad x is ~0
    for a, r, e in zip(g, rg, eg):
        assert_rel_close(a, e, torch.float32, "grad kernel vs composite", floor=1.0)
        assert_rel_close(r, e, torch.float32, "grad reference vs composite", floor=1.0)


@given(Tl=st.integers(1, 4), r=st.integers(1, 3), Hl=st.integers(1, 3), Wl=st.integers(1, 3),
       sh=st.integers(1, 3), sw=st.integers(1, 3), beta=st.booleans(), per_frame=st.booleans(),
       center=st.booleans(), act=st.sampled_from(["silu", "none"]), layout=layouts,
       seed=st.integers(0, 1000))
def test_adaptive_group_norm_random_alignment(Tl, r, Hl, Wl, sh, sw, beta, per_frame, center, act,
                                              layout, seed):
    T = 1 + r * (Tl - 1) if Tl > 1 else r
    H, W = Hl * sh, Wl * sw
    x = rand(1, 4, T, H, W, layout=layout, seed=seed, requires_grad=True)
    g = rand(1, 4, Tl, Hl, Wl, seed=seed + 1, scale=0.5, requires_grad=True)
    bt = rand(1, 4, Tl, Hl, Wl, seed=seed + 2, requires_grad=True) if beta else None
    eps = 1e-3
    y = ops.adaptive_group_norm(x, g, bt, 2, eps, per_frame, center, act)
    e_in = f64(x, g, bt)
    ey = comp.adaptive_group_norm(*e_in, 2, eps, per_frame, center, act)
    assert_close(y, ey, torch.float32, "kernel vs composite")
    gy = rand(*y.shape, seed=seed + 3)
    got = torch.autograd.grad(y, [t for t in (x, g, bt) if t is not None], gy)
    want = torch.autograd.grad(ey, [t for t in e_in if t is not None], gy.double())
    assert_close(got[0], want[0], torch.float32, "grad x")
    for a, e in zip(got[1:], want[1:]):
        assert_rel_close(a, e, torch.float32, "grad gamma / beta", floor=1.0)


@given(ft=st.integers(1, 3), fh=st.integers(1, 3), fw=st.integers(1, 3), k=st.integers(0, 3),
       C=st.integers(1, 3), Hs=st.integers(1, 3), Ws=st.integers(1, 3), causal=st.booleans(),
       layout=layouts, dtype=st.sampled_from([torch.float32, torch.bfloat16, torch.float16]))
def test_shuffles_random(ft, fh, fw, k, C, Hs, Ws, causal, layout, dtype):
    T = 1 + ft * k if causal else ft * (k + 1)
    x = rand(1, C, T, Hs * fh, Ws * fw, layout=layout, dtype=dtype)
    f = (ft, fh, fw)
    z = ops.pixel_unshuffle_3d(x, f, causal)
    assert_equal(z, comp.pixel_unshuffle_3d(x, f, causal), "unshuffle vs composite")
    back = ops.pixel_shuffle_3d(z, f, causal)
    assert_equal(back, x, "shuffle(unshuffle(x))")
    assert_equal(back, comp.pixel_shuffle_3d(z, f, causal), "shuffle vs composite")
