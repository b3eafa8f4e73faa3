"""Saving and loading tokenizers: ``config.json`` + ``model.safetensors`` in one directory.

Writes are atomic (a temporary file in the same directory, flushed to disk, then renamed over
the target), so an interrupted save never leaves a half-written checkpoint under the real
name. Loading checks every tensor against the model the config builds and names the file and
the tensor in its errors.
"""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING

import torch

from .config import CONFIG_NAME, TokenizerConfig

if TYPE_CHECKING:
    from .model import VideoTokenizer

WEIGHTS_NAME = "model.safetensors"


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded into the model its config describes."""


def _atomic_write(path: str, write) -> None:
    """Call ``write(tmp_path)``, fsync it and rename it to ``path``."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def save_pretrained(model: "VideoTokenizer", directory: str | os.PathLike) -> None:
    from safetensors.torch import save_file

    from .. import __version__

    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    # Contiguous copies on the CPU: channels_last_3d or CUDA parameters save the same bytes.
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    meta = {"format": "pt", "bootvid_version": __version__, "model": "VideoTokenizer"}
    _atomic_write(os.path.join(directory, WEIGHTS_NAME),
                  lambda p: save_file(tensors, p, metadata=meta))

    def write_config(p: str) -> None:
        with open(p, "w", encoding="utf-8") as f:
            f.write(model.config.to_json())

    _atomic_write(os.path.join(directory, CONFIG_NAME), write_config)


def _read_weights(path: str) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not os.path.isfile(path):
        raise FileNotFoundError(f"tokenizer weights not found: {path} (save_pretrained writes "
                                f"{WEIGHTS_NAME} next to {CONFIG_NAME})")
    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file (corrupt or truncated?): "
                              f"{e}") from e


def load_pretrained(cls, directory: str | os.PathLike, device=None, dtype=None) -> "VideoTokenizer":
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"tokenizer directory not found: {directory}")
    config = TokenizerConfig.from_file(os.path.join(directory, CONFIG_NAME))
    weights_path = os.path.join(directory, WEIGHTS_NAME)
    weights = _read_weights(weights_path)
    if config.growth:  # a grown tokenizer: its base grown by each recorded stage
        from ..growth import from_config

        model = from_config(config)
    else:
        model = cls(config)
    saved = {t.dtype for t in weights.values() if t.is_floating_point()}
    if dtype is None and len(saved) == 1:  # restore a bf16/fp16 checkpoint in its own dtype
        model.to(dtype=saved.pop())
    expected = model.state_dict()
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing tensor(s) {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected tensor(s) {unexpected[:5]}"
                         f"{' ...' if len(unexpected) > 5 else ''}")
        raise CheckpointError(f"{weights_path} does not match the model built from "
                              f"{CONFIG_NAME}: {'; '.join(parts)}")
    for name, ref in expected.items():
        t = weights[name]
        if t.shape != ref.shape:
            raise CheckpointError(
                f"{weights_path}: tensor {name!r} has shape {tuple(t.shape)}, but the model built "
                f"from {CONFIG_NAME} expects {tuple(ref.shape)}")
        if not t.is_floating_point() and ref.is_floating_point():
            raise CheckpointError(f"{weights_path}: tensor {name!r} has dtype {t.dtype}, expected "
                                  "a floating-point tensor")
    model.load_state_dict(weights, strict=True)
    if dtype is not None or device is not None:
        model.to(device=device, dtype=dtype)
    return model.eval()


def model_fingerprint(model: "VideoTokenizer") -> str:
    """A short hash of a tokenizer's config and weights, rounded to bfloat16 first so that an
    fp32 model and its bf16 copy match: what latents files record to refuse decoding by
    another model."""
    import hashlib
    import json

    cfg = {k: v for k, v in model.config.to_dict().items() if not k.startswith("_")}
    h = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode())
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().to("cpu").to(torch.bfloat16).to(torch.float32).contiguous()
        h.update(f"{name}:{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]


def read_config(directory: str | os.PathLike) -> TokenizerConfig:
    """The config of a saved tokenizer, without loading its weights."""
    return TokenizerConfig.from_file(os.path.join(os.fspath(directory), CONFIG_NAME))


__all__ = ["CheckpointError", "WEIGHTS_NAME", "save_pretrained", "load_pretrained", "read_config",
           "model_fingerprint"]
