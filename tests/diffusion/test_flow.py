"""Rectified flow: paths, exact integration of a known velocity field, guidance, determinism,
and a loss that decreases when a DiT trains on a tiny latent set."""

from __future__ import annotations

import pytest
import torch

from bootvid.diffusion import flow
from bootvid.diffusion.dit import DiT, dit_config


def test_path_endpoints_and_velocity():
    x0, noise = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    torch.testing.assert_close(flow.interpolate(x0, noise, torch.zeros(2)), x0)
    torch.testing.assert_close(flow.interpolate(x0, noise, torch.ones(2)), noise)
    t = torch.tensor([0.25, 0.5])
    mid = flow.interpolate(x0, noise, t)
    torch.testing.assert_close(mid[1], 0.5 * (x0[1] + noise[1]))


def test_logit_normal_times():
    t = flow.logit_normal_time(20000, generator=torch.Generator().manual_seed(0))
    assert 0 < t.min() and t.max() < 1
    assert abs(t.median().item() - 0.5) < 0.02
    shifted = flow.logit_normal_time(20000, mean=1.0, generator=torch.Generator().manual_seed(0))
    assert shifted.median() > 0.7


def test_time_grid():
    g = flow.time_grid(4)
    torch.testing.assert_close(g, torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0]))
    s = flow.time_grid(4, shift=3.0)
    assert s[0] == 1 and s[-1] == 0 and (s[1:-1] > g[1:-1]).all()
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        flow.time_grid(0)


class _Exact(torch.nn.Module):
    """The true velocity of the straight path to a known x0: v = (x_t - x0) / t."""

    null_label = None

    def __init__(self, x0):
        super().__init__()
        self.x0 = x0
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, t, y=None):
        return (x - self.x0) / t.view(-1, *([1] * (x.dim() - 1)))


@pytest.mark.parametrize("method", ["euler", "heun"])
@pytest.mark.parametrize("steps", [1, 7])
def test_samplers_follow_a_straight_path_exactly(method, steps):
    x0, noise = torch.randn(2, 4, 3, 5, 5), torch.randn(2, 4, 3, 5, 5)
    out = flow.sample(_Exact(x0), noise, steps=steps, method=method)
    torch.testing.assert_close(out, x0, rtol=1e-4, atol=1e-4)


class _Labelled(torch.nn.Module):
    null_label = 2

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, t, y):
        return x * 0 + y.view(-1, 1).float()  # velocity = the label


def test_classifier_free_guidance_mixes_velocities():
    x = torch.zeros(1, 3)
    y = torch.tensor([1])
    v = flow.guided_velocity(_Labelled(), x, 0.5, y, cfg=4.0)
    torch.testing.assert_close(v, torch.full((1, 3), 2 + 4.0 * (1 - 2)))
    torch.testing.assert_close(flow.guided_velocity(_Labelled(), x, 0.5, y, cfg=1.0),
                               torch.ones(1, 3))


def test_sampling_is_deterministic_under_a_seed():
    from bootvid.diffusion.sampling import sample_latents

    torch.manual_seed(0)
    dit = DiT(dit_config("test", in_channels=4, num_classes=3))
    with torch.no_grad():
        for p in dit.parameters():
            p.add_(0.05 * torch.randn_like(p))
    meta = {"mean": [0.5] * 4, "std": [2.0] * 4}
    a = sample_latents(dit, meta, (4, 3, 4, 4), label=1, steps=4, cfg=2.0, seed=7)
    b = sample_latents(dit, meta, (4, 3, 4, 4), label=1, steps=4, cfg=2.0, seed=7)
    c = sample_latents(dit, meta, (4, 3, 4, 4), label=1, steps=4, cfg=2.0, seed=8)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (1, 4, 3, 4, 4) and torch.isfinite(a).all()


def test_labels_for_an_unconditional_model_are_refused():
    dit = DiT(dit_config("test", in_channels=4))
    with pytest.raises(ValueError, match="unconditional"):
        flow.sample(dit, torch.randn(1, 4, 1, 4, 4), steps=1, y=torch.tensor([0]))
    with pytest.raises(ValueError, match="unknown sampler"):
        flow.sample(dit, torch.randn(1, 4, 1, 4, 4), steps=1, method="rk4")


def test_flow_loss_decreases_on_a_tiny_latent_set():
    from dit_helpers import structured_latents

    torch.manual_seed(0)
    z = structured_latents(8)
    z = (z - z.mean()) / z.std()
    dit = DiT(dit_config("test", in_channels=4))
    opt = torch.optim.AdamW(dit.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(150):
        noise = torch.randn(z.shape, generator=g)
        t = flow.logit_normal_time(len(z), generator=g)
        loss = flow.flow_loss(dit, z, noise, t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    first, last = sum(losses[:15]) / 15, sum(losses[-15:]) / 15
    assert first > 1.5  # zero output at init: E|noise - x0|^2 = 2
    assert last < 0.75 * first, (first, last)
