"""Training compute in FLOPs: budgets and model cards that mean the same on any machine.

A tokenizer training step's FLOPs are the sum over its items of one item's forward and backward
pass, and an item's count depends only on the model and the item's shape (frames, size). It is
counted once per shape with ``torch.utils.flop_counter.FlopCounterMode`` on bootvid's reference
ops (the kernels compute the same convolutions; custom ops are invisible to the counter):
encode, sample, decode, L1 + KL, and the gradients of the trainable parameters only, so a grown
model's frozen stages count their forward pass (and the backward that reaches the new stage
through them) and its 2x-subsampled branch counts too. The optimizer, EMA and data loading are
left out (well under 1% of a step here).
"""

from __future__ import annotations

import torch


def item_training_flops(tok: torch.nn.Module, frames: int, size: int | tuple[int, int]) -> float:
    """FLOPs of training ``tok`` on one item of ``frames`` frames at ``size`` (forward, loss,
    backward into the trainable parameters). ``tok``'s weights and gradients are untouched."""
    from torch.utils.flop_counter import FlopCounterMode

    from .. import ops

    h, w = (size, size) if isinstance(size, int) else size
    device = next(tok.parameters()).device
    params = [p for p in tok.parameters() if p.requires_grad]
    x = torch.zeros(1, 3, frames, h, w, device=device)
    with torch.enable_grad(), ops.use_reference(), FlopCounterMode(display=False) as counter:
        post = tok.encode(x)
        recon = tok.decode(post.mean + post.std * torch.zeros_like(post.mean), num_frames=frames)
        loss = (recon.float() - x).abs().mean() + post.kl().mean()
        if params:  # gradients computed, not stored: .grad of the run stays as it was
            torch.autograd.grad(loss, params, allow_unused=True)
    return float(counter.get_total_flops())


class FlopCounter:
    """FLOPs of training items by length, counted on first sight (:func:`item_training_flops`)
    on a copy of ``tok`` on the meta device: no arithmetic is done, nothing of the run (its
    device, DDP hooks, random state) is touched, and the count is the same on any machine."""

    def __init__(self, tok: torch.nn.Module, size: int | tuple[int, int]) -> None:
        import copy

        self.tok = copy.deepcopy(tok).to("meta")
        self.size = size
        self._per_item: dict[int, float] = {}

    def item(self, frames: int) -> float:
        if frames not in self._per_item:
            self._per_item[frames] = item_training_flops(self.tok, frames, self.size)
        return self._per_item[frames]

    def items(self, frames: list[int]) -> float:
        return sum(self.item(f) for f in frames)


def format_flops(flops: float) -> str:
    """``3.2e15`` -> ``"3.20 PFLOP"``: the unit a reader compares budgets in."""
    for unit, scale in (("EFLOP", 1e18), ("PFLOP", 1e15), ("TFLOP", 1e12), ("GFLOP", 1e9)):
        if abs(flops) >= scale:
            return f"{flops / scale:.2f} {unit}"
    return f"{flops:.3g} FLOP"
