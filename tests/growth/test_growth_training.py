"""Training a grown stage: the lower tokenizer stays frozen, only new parameters learn."""

from __future__ import annotations

import torch
from grow_helpers import make_base, make_grown, make_video


def _loss(tok, x, sample: bool = True):
    recon, post = tok(x, sample_posterior=sample, generator=torch.Generator().manual_seed(0))
    return (recon - x).abs().mean() + 1e-6 * post.kl().mean()


def _split(tok):
    new = {id(p) for p in tok.trainable_parameters()}
    named = dict(tok.named_parameters())
    return ({k: p for k, p in named.items() if id(p) in new},
            {k: p for k, p in named.items() if id(p) not in new})


def test_trainable_parameters_are_the_new_stage():
    tok16 = make_grown(make_grown(make_base(), seed=1), seed=2)
    new, frozen = _split(tok16)
    assert new and frozen
    assert all(p.requires_grad for p in new.values())
    assert not any(p.requires_grad for p in frozen.values())
    # The 16x stage only: the 8x stage was frozen along with the 4x base when grown on.
    assert all(".lower." not in k for k in new)
    assert all(k.startswith(("encoder.lower.", "decoder.lower.")) for k in frozen)
    assert len(list(tok16.trainable_parameters())) == len(new)  # no parameter twice


def test_only_new_parameters_get_gradients():
    tok = make_grown(make_grown(make_base(), seed=1), seed=2).train()
    _loss(tok, make_video(17)).backward()
    new, frozen = _split(tok)
    missing = [k for k, p in new.items() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"new parameters without a finite gradient: {missing}"
    assert [k for k, p in frozen.items() if p.grad is not None] == []


def test_frozen_weights_bit_identical_after_adam_steps():
    base = make_base()
    tok = make_grown(base, seed=1, perturb=False).train()
    before = {k: v.clone() for k, v in base.state_dict().items()}
    stage_before = [p.detach().clone() for p in tok.trainable_parameters()]
    opt = torch.optim.AdamW(tok.trainable_parameters(), lr=1e-3, weight_decay=0.1)
    x = make_video(9)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = _loss(tok, x, sample=False)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    for k, v in base.state_dict().items():
        assert torch.equal(v, before[k]), f"frozen tensor {k} changed"
    assert all(not torch.equal(a, b) for a, b in zip(stage_before, tok.trainable_parameters()))
    assert losses[-1] < losses[0]
