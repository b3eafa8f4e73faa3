"""Adversarial losses and regularisers for tokenizer training.

Logits may have any shape (``(B,)`` from ``Discriminator3d``, or patch logits
``(B, 1, ...)``); every loss averages over all their elements. Real and fake logits may
have different shapes.

A training step typically does::

    # discriminator step (fake = reconstruction.detach())
    lr, lf = disc(real), disc(fake)
    loss_d = d_loss("hinge", lr, lf) + lecam_weight * lecam.penalty(lr, lf)
    lecam.update(lr, lf)
    # generator step
    g = g_loss("hinge", disc(reconstruction))
    w = adaptive_weight(rec_loss, g, decoder_last_layer.weight)
    loss_g = rec_loss + disc_weight * w * g
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

GAN_LOSSES = ("hinge", "non_saturating")


def _check_kind(kind: str) -> None:
    if kind not in GAN_LOSSES:
        raise ValueError(f"unknown GAN loss kind {kind!r}; choose one of {list(GAN_LOSSES)}")


def d_loss(kind: str, logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """Discriminator loss (scalar) for ``kind`` ``"hinge"`` or ``"non_saturating"``.

    - hinge: ``mean(relu(1 - real)) + mean(relu(1 + fake))``; 2 at zero logits, 0 once
      real >= 1 and fake <= -1.
    - non_saturating (logistic): ``mean(softplus(-real)) + mean(softplus(fake))``, i.e.
      ``-log sigmoid(real) - log(1 - sigmoid(fake))``; ``2 log 2`` at zero logits.

    Pass the fake logits of a detached reconstruction so only the discriminator learns.
    """
    _check_kind(kind)
    if kind == "hinge":
        return F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean()
    return F.softplus(-logits_real).mean() + F.softplus(logits_fake).mean()


def g_loss(kind: str, logits_fake: torch.Tensor) -> torch.Tensor:
    """Generator (tokenizer) loss (scalar): lower when the discriminator calls fakes real.

    - hinge: ``-mean(fake)`` (the usual generator side of the hinge GAN).
    - non_saturating: ``mean(softplus(-fake))`` = ``-log sigmoid(fake)``; ``log 2`` at zero.
    """
    _check_kind(kind)
    if kind == "hinge":
        return -logits_fake.mean()
    return F.softplus(-logits_fake).mean()


class LeCAM(nn.Module):
    """LeCAM regularisation (Tseng et al., CVPR 2021) for the discriminator.

    Keeps exponential moving averages of the mean real and fake logits (persistent buffers
    ``ema_real`` and ``ema_fake``, so they are in the ``state_dict`` and resume exactly) and
    penalises logits that drift past the other side's average::

        penalty = mean(relu(real - ema_fake)^2) + mean(relu(ema_real - fake)^2)

    The EMAs start at 0 and move by ``ema = decay * ema + (1 - decay) * mean(logits)``.

    Order of calls in each discriminator step: ``penalty(real, fake)`` first (it reads the
    EMAs of the previous steps and is added to the discriminator loss), then
    ``update(real, fake)``. Under ``torch.distributed`` the batch means are averaged over
    ranks in ``update`` (``sync=True``), so every rank keeps the same EMAs.
    """

    ema_real: torch.Tensor
    ema_fake: torch.Tensor

    def __init__(self, decay: float = 0.99, sync: bool = True) -> None:
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"LeCAM decay must be in [0, 1); got {decay}")
        self.decay, self.sync = float(decay), sync
        self.register_buffer("ema_real", torch.zeros(()))
        self.register_buffer("ema_fake", torch.zeros(()))

    def penalty(self, logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
        """The LeCAM penalty (scalar, differentiable in the logits; the EMAs are constants)."""
        ema_real = self.ema_real.to(logits_real.dtype)
        ema_fake = self.ema_fake.to(logits_fake.dtype)
        return (F.relu(logits_real - ema_fake).pow(2).mean()
                + F.relu(ema_real - logits_fake).pow(2).mean())

    @torch.no_grad()
    def update(self, logits_real: torch.Tensor, logits_fake: torch.Tensor) -> None:
        """Move the EMAs towards this step's mean real and fake logits."""
        means = torch.stack([logits_real.detach().float().mean(),
                             logits_fake.detach().float().mean()]).to(self.ema_real.device)
        if self.sync and dist.is_available() and dist.is_initialized() \
                and dist.get_world_size() > 1:
            dist.all_reduce(means)
            means /= dist.get_world_size()
        self.ema_real.mul_(self.decay).add_(means[0].to(self.ema_real.dtype), alpha=1 - self.decay)
        self.ema_fake.mul_(self.decay).add_(means[1].to(self.ema_fake.dtype), alpha=1 - self.decay)

    def extra_repr(self) -> str:
        return f"decay={self.decay}"


def _grad_wrt(loss: torch.Tensor, tensor: torch.Tensor, name: str) -> torch.Tensor:
    (grad,) = torch.autograd.grad(loss, tensor, retain_graph=True, allow_unused=True)
    if grad is None:
        raise ValueError(f"adaptive_weight: {name} does not depend on last_layer; pass a "
                         f"weight (e.g. the decoder's output conv weight) that both the "
                         f"reconstruction loss and the GAN loss were computed through")
    return grad


def adaptive_weight(rec_loss: torch.Tensor, gan_loss: torch.Tensor, last_layer: torch.Tensor,
                    max_weight: float = 1e4) -> torch.Tensor:
    """VQGAN's adaptive GAN weight ``||d rec/d w|| / (||d gan/d w|| + 1e-4)``, clamped to
    ``[0, max_weight]`` and detached (a 0-dim tensor).

    ``w = last_layer`` is typically the decoder's last conv weight. Both losses must depend
    on it (through graphs that are still alive), else ValueError. The graphs are retained
    (``retain_graph=True``) so the caller can backpropagate the weighted total afterwards.
    """
    if not last_layer.requires_grad:
        raise ValueError("adaptive_weight: last_layer does not require grad; pass a trainable "
                         "parameter both losses depend on")
    rec_grad = _grad_wrt(rec_loss, last_layer, "rec_loss")
    gan_grad = _grad_wrt(gan_loss, last_layer, "gan_loss")
    weight = rec_grad.norm() / (gan_grad.norm() + 1e-4)
    return weight.clamp(0.0, max_weight).detach()


def r1_penalty(logits_real: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """R1 gradient penalty (Mescheder et al. 2018): ``mean_b ||d D(real_b) / d real_b||^2``.

    ``real`` must require grad and ``logits_real = disc(real)`` must be computed from it.
    Patch logits are summed per sample first. The gradient is taken with
    ``create_graph=True`` so the penalty trains the discriminator; the usual loss term is
    ``gamma / 2 * r1_penalty(...)``. Returns a scalar.
    """
    if not real.requires_grad:
        raise ValueError("r1_penalty: `real` must require grad (call real.requires_grad_() "
                         "before computing logits_real = disc(real))")
    (grad,) = torch.autograd.grad(logits_real.sum(), real, create_graph=True, allow_unused=True)
    if grad is None:
        raise ValueError("r1_penalty: logits_real was not computed from `real`")
    return grad.pow(2).reshape(grad.shape[0], -1).sum(dim=1).mean()
