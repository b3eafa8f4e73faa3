"""Run directories: what ``bootvid train`` / ``bootvid grow`` write, and finding the model in
one.

A run directory holds ``train_config.yaml`` (the resolved config), ``checkpoints/``,
``log.jsonl``, ``previews/`` and, when training ends, ``model/`` (the trained weights) and
``model_ema/`` (their exponential moving average), both loadable with
``VideoTokenizer.from_pretrained``.
"""

from __future__ import annotations

import os

from ..tokenizer.config import CONFIG_NAME

CONFIG_FILE = "train_config.yaml"
MODEL_DIR = "model"
EMA_DIR = "model_ema"


def resolve_model_dir(path: str | os.PathLike) -> tuple[str, str]:
    """``(directory, description)`` of the model ``path`` names: a ``save_pretrained``
    directory as is, or a run directory's EMA model (else its final model)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"model not found: {path} (give a save_pretrained directory or a "
                                "bootvid training run directory)")
    if os.path.isfile(os.path.join(path, CONFIG_NAME)):
        return path, f"model {path}"
    for sub, what in ((EMA_DIR, "EMA weights"), (MODEL_DIR, "final weights")):
        d = os.path.join(path, sub)
        if os.path.isfile(os.path.join(d, CONFIG_NAME)):
            return d, f"{what} of the run {path} ({d})"
    if os.path.isdir(os.path.join(path, "checkpoints")):
        raise FileNotFoundError(f"{path} is a training run that has not finished: it has no "
                                f"{MODEL_DIR}/ yet; resume it with --resume (training writes "
                                f"{MODEL_DIR}/ and {EMA_DIR}/ when it stops)")
    raise FileNotFoundError(f"{path} holds no model: expected {CONFIG_NAME} (a save_pretrained "
                            f"directory) or a run directory with {EMA_DIR}/ or {MODEL_DIR}/")


def load_tokenizer(path: str | os.PathLike, device=None):
    """The tokenizer at ``path`` (see :func:`resolve_model_dir`) and where it came from."""
    from ..tokenizer import VideoTokenizer

    directory, what = resolve_model_dir(path)
    return VideoTokenizer.from_pretrained(directory, device=device), what
