"""The training record saved beside a model's weights (``training.json``): what it was trained
from and on, and its compute, its own and cumulative over the models it was grown or
initialised from. ``bootvid train`` writes it into ``model/`` and ``model_ema/``; a run that
continues a saved model (``model.init_from``, ``bootvid grow``) reads its parent's and adds to
it, so a model trained in several separate runs still states its whole cost."""

from __future__ import annotations

import json
import os

CARD_NAME = "training.json"
_TOTALS = ("steps", "train_seconds", "train_flops")


def read_card(model_dir: str | os.PathLike) -> dict | None:
    """The training record in ``model_dir``; None when it has none (models saved elsewhere,
    or by bootvid before records existed)."""
    path = os.path.join(model_dir, CARD_NAME)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def make_card(*, steps: int, train_seconds: float, train_flops: float, source: str,
              data: str, config: dict, parent: dict | None, has_parent: bool) -> dict:
    """A record of one run; ``cumulative`` adds the parent's cumulative totals. ``has_parent``:
    the run started from a saved model; one without a record (``parent`` None) adds nothing,
    and ``cumulative_complete`` says so."""
    own = {"steps": int(steps), "train_seconds": float(train_seconds),
           "train_flops": float(train_flops)}
    before = (parent or {}).get("cumulative", {})
    cumulative = {k: own[k] + before.get(k, 0) for k in _TOTALS}
    from .. import __version__

    return {"bootvid_version": __version__, **own, "source": source, "data": data,
            "config": config, "cumulative": cumulative,
            "cumulative_complete": (not has_parent if parent is None
                                    else bool(parent.get("cumulative_complete", True))),
            "parent": parent}


def write_card(model_dir: str | os.PathLike, card: dict) -> None:
    from ..fileio import atomic_write_text

    atomic_write_text(os.path.join(model_dir, CARD_NAME), json.dumps(card, indent=2) + "\n")
