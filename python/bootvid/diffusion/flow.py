"""Rectified flow (flow matching with straight paths) on latents.

Time runs from data (``t = 0``) to noise (``t = 1``): ``x_t = (1 - t) * x_0 + t * noise``, and
the model predicts the velocity ``v = noise - x_0`` (constant along each path). Training draws
``t`` from a logit-normal distribution (SD3), which puts more steps in the middle of the path
where the velocity is hardest to predict. Sampling integrates ``dx/dt = v`` from ``t = 1`` to
``0`` with Euler or Heun steps; classifier-free guidance mixes the conditional and the
unconditional (null label) velocity.
"""

from __future__ import annotations

import torch
from torch import Tensor

SAMPLERS = ("euler", "heun")


def logit_normal_time(n: int, mean: float = 0.0, std: float = 1.0,
                      generator: torch.Generator | None = None) -> Tensor:
    """``n`` times ``sigmoid(mean + std * N(0, 1))`` in (0, 1), float32 on the CPU."""
    return torch.sigmoid(mean + std * torch.randn(n, generator=generator))


def interpolate(x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
    """The point at time ``t`` (``[B]``) on the straight path from ``x0`` to ``noise``."""
    t = t.to(x0.dtype).view(-1, *([1] * (x0.dim() - 1)))
    return (1 - t) * x0 + t * noise


def flow_loss(model, x0: Tensor, noise: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
    """Mean squared error of the predicted velocity against ``noise - x0``."""
    v = model(interpolate(x0, noise, t), t, y)
    return (v.float() - (noise - x0).float()).pow(2).mean()


def time_grid(steps: int, shift: float = 1.0) -> Tensor:
    """``steps + 1`` times from 1 to 0. ``shift > 1`` spends more steps near the noise end
    (``t' = shift * t / (1 + (shift - 1) * t)``, as SD3 does for larger latents)."""
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if not shift > 0:
        raise ValueError(f"shift must be > 0, got {shift!r}")
    t = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)
    return (shift * t / (1 + (shift - 1) * t)).float()


def guided_velocity(model, x: Tensor, t: float, y: Tensor | None, cfg: float) -> Tensor:
    """The model's velocity; with labels and ``cfg != 1``, ``v_null + cfg * (v_y - v_null)``
    (one batched forward for both)."""
    b = x.shape[0]
    tt = torch.full((b,), t, device=x.device, dtype=torch.float32)
    if y is None or cfg == 1.0:
        return model(x, tt, y).float()
    null = torch.full_like(y, model.null_label)
    v = model(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([y, null])).float()
    v_y, v_null = v.chunk(2)
    return v_null + cfg * (v_y - v_null)


@torch.no_grad()
def sample(model, noise: Tensor, steps: int = 50, y: Tensor | None = None, cfg: float = 1.0,
           method: str = "euler", shift: float = 1.0, progress: bool = False) -> Tensor:
    """Integrate from ``noise`` (the latent at ``t = 1``) to ``t = 0`` in ``steps`` steps;
    returns the sampled (normalised) latents in float32. Deterministic for given noise."""
    if method not in SAMPLERS:
        raise ValueError(f"unknown sampler {method!r}; choose one of {SAMPLERS}")
    if y is not None and getattr(model, "null_label", None) is None:
        raise ValueError("labels given to an unconditional model (trained without classes)")
    ts = time_grid(steps, shift).tolist()
    x = noise.float()
    pairs = list(zip(ts[:-1], ts[1:]))
    if progress:
        from tqdm.auto import tqdm

        pairs = tqdm(pairs, desc="sampling", unit="step", dynamic_ncols=True)
    dtype = next(model.parameters()).dtype
    for t, t_next in pairs:
        v = guided_velocity(model, x.to(dtype), t, y, cfg)
        x_next = x + (t_next - t) * v
        if method == "heun" and t_next > 0:  # trapezoid: average with the slope at the end
            v_next = guided_velocity(model, x_next.to(dtype), t_next, y, cfg)
            x_next = x + (t_next - t) * 0.5 * (v + v_next)
        x = x_next
    return x


__all__ = ["SAMPLERS", "flow_loss", "guided_velocity", "interpolate", "logit_normal_time",
           "sample", "time_grid"]
