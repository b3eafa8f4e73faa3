"""The encoder's output distribution over latents."""

from __future__ import annotations

import torch


class DiagonalGaussian:
    """A diagonal Gaussian ``N(mean, exp(logvar))`` over latents ``(B, C, T, H, W)``.

    The encoder predicts ``mean`` and ``logvar`` (concatenated along channels in
    ``moments``); ``logvar`` is clamped so ``exp`` stays finite early in training.
    ``deterministic=True`` makes it a point mass (``sample() == mode()``, zero KL).
    """

    def __init__(self, moments: torch.Tensor | None = None, *, mean: torch.Tensor | None = None,
                 logvar: torch.Tensor | None = None, logvar_min: float = -30.0,
                 logvar_max: float = 20.0, deterministic: bool = False) -> None:
        if moments is not None:
            if mean is not None or logvar is not None:
                raise ValueError("DiagonalGaussian: pass either moments or mean and logvar")
            if moments.shape[1] % 2:
                raise ValueError(f"DiagonalGaussian: moments need an even channel count "
                                 f"(mean, logvar), got {tuple(moments.shape)}")
            mean, logvar = moments.chunk(2, dim=1)
        elif mean is None or logvar is None:
            raise ValueError("DiagonalGaussian: pass moments, or both mean and logvar")
        if mean.shape != logvar.shape:
            raise ValueError(f"DiagonalGaussian: mean {tuple(mean.shape)} and logvar "
                             f"{tuple(logvar.shape)} differ in shape")
        self.mean = mean
        self.deterministic = deterministic
        if deterministic:
            logvar = torch.full_like(mean, logvar_min)
        self.logvar = logvar.clamp(logvar_min, logvar_max)

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    @property
    def var(self) -> torch.Tensor:
        return torch.exp(self.logvar)

    @property
    def shape(self) -> torch.Size:
        return self.mean.shape

    def mode(self) -> torch.Tensor:
        """The most likely latent (the mean): what to use for deterministic encoding."""
        return self.mean

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """``mean + std * eps`` (reparameterised, differentiable in mean and logvar)."""
        if self.deterministic:
            return self.mean
        eps = torch.randn(self.mean.shape, generator=generator, device=self.mean.device,
                          dtype=self.mean.dtype)
        return self.mean + self.std * eps

    def kl(self, other: "DiagonalGaussian | None" = None) -> torch.Tensor:
        """KL divergence to ``other`` (default: the standard normal), summed over everything
        but the batch dimension: shape ``(B,)``, computed in float32 at least."""
        if self.deterministic:
            return self.mean.new_zeros(self.mean.shape[0], dtype=torch.float32)
        dt = torch.promote_types(self.mean.dtype, torch.float32)
        m, lv = self.mean.to(dt), self.logvar.to(dt)
        if other is None:
            kl = 0.5 * (m.square() + lv.exp() - 1.0 - lv)
        else:
            om, olv = other.mean.to(dt), other.logvar.to(dt)
            kl = 0.5 * ((m - om).square() / olv.exp() + (lv - olv).exp() - 1.0 - lv + olv)
        return kl.flatten(1).sum(dim=1)

    def nll(self, sample: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of ``sample``, summed per batch element: shape ``(B,)``."""
        dt = torch.promote_types(self.mean.dtype, torch.float32)
        m, lv = self.mean.to(dt), self.logvar.to(dt)
        log2pi = 1.8378770664093453
        return 0.5 * (log2pi + lv + (sample.to(dt) - m).square() / lv.exp()).flatten(1).sum(dim=1)

    def to(self, *args, **kwargs) -> "DiagonalGaussian":
        g = DiagonalGaussian.__new__(DiagonalGaussian)
        g.mean, g.logvar = self.mean.to(*args, **kwargs), self.logvar.to(*args, **kwargs)
        g.deterministic = self.deterministic
        return g

    def __repr__(self) -> str:
        return (f"DiagonalGaussian(shape={tuple(self.mean.shape)}, dtype={self.mean.dtype}, "
                f"device={self.mean.device}{', deterministic' if self.deterministic else ''})")
