"""Exponential moving average of a model's trainable weights."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


class EMA:
    """Shadow copies (fp32) of ``named`` parameters, ``shadow = d*shadow + (1-d)*param`` with
    the warm-up ``d = min(decay, (1 + n) / (10 + n))`` so early averages are not dominated by
    the random initialisation. ``swapped_into(model)`` lends the averages to the model."""

    def __init__(self, named: Iterable[tuple[str, nn.Parameter]], decay: float) -> None:
        self.decay = decay
        self.params = dict(named)
        self.shadow = {k: p.detach().float().clone() for k, p in self.params.items()}
        self.updates = 0

    @torch.no_grad()
    def update(self) -> None:
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for k, p in self.params.items():
            self.shadow[k].lerp_(p.detach().float(), 1 - d)
        self.updates += 1

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "shadow": dict(self.shadow)}

    def load_state_dict(self, state: dict) -> None:
        missing = sorted(set(self.shadow) - set(state["shadow"]))
        if missing:
            raise ValueError(f"EMA state lacks {missing[:3]}: it belongs to another model")
        for k in self.shadow:
            self.shadow[k].copy_(state["shadow"][k])
        self.updates = int(state["updates"])

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Write the averages into ``model``'s parameters of the same names."""
        own = dict(model.named_parameters())
        for k, v in self.shadow.items():
            own[k].copy_(v)
