"""Saving and loading tokenizers: ``config.json`` + ``model.safetensors`` in one directory.

Writes are atomic (a temporary file in the same directory, flushed to disk, then renamed over
the target), so an interrupted save never leaves a half-written checkpoint under the real
name. Loading checks every tensor against the model the config builds and names the file and
the tensor in its errors.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import torch

from ..fileio import atomic_write, atomic_write_text
from .config import CONFIG_NAME, TokenizerConfig

if TYPE_CHECKING:
    from .model import VideoTokenizer

WEIGHTS_NAME = "model.safetensors"


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded into the model its config describes."""


#: safetensors metadata keys of a grown checkpoint saved on top of a separately saved lower one.
LOWER_KEY, LOWER_FINGERPRINT_KEY = "lower", "lower_fingerprint"
_LOWER_PREFIXES = ("encoder.lower.", "decoder.lower.")


def save_pretrained(model: "VideoTokenizer", directory: str | os.PathLike,
                    dtype: torch.dtype | None = None,
                    lower: str | os.PathLike | None = None) -> None:
    """Write ``config.json`` and ``model.safetensors`` into ``directory``, atomically.

    ``dtype`` stores the floating-point weights in that dtype (e.g. ``torch.bfloat16`` to halve
    the file). ``lower``, for a grown model only, is the directory where its lower (frozen)
    model was saved: only the new stage's weights are written, with the lower directory's
    relative path and fingerprint, so a 4x -> 8x -> 16x family stores each weight once."""
    from safetensors.torch import save_file

    from .. import __version__

    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    # Contiguous copies on the CPU: channels_last_3d or CUDA parameters save the same bytes.
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    if dtype is not None:
        if not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")
        tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    meta = {"format": "pt", "bootvid_version": __version__, "model": "VideoTokenizer"}
    if lower is not None:
        tensors, meta = _stage_only(model, tensors, meta, directory, os.fspath(lower))
    atomic_write(os.path.join(directory, WEIGHTS_NAME),
                 lambda p: save_file(tensors, p, metadata=meta))
    atomic_write_text(os.path.join(directory, CONFIG_NAME), model.config.to_json())


def _stage_only(model, tensors: dict, meta: dict, directory: str, lower_dir: str):
    """The tensors of the grown ``model``'s own stage, and metadata pointing at ``lower_dir``,
    after checking that ``lower_dir`` holds exactly ``model.lower``."""
    if not model.config.growth:
        raise ValueError("lower= is for grown tokenizers only: this one was never grown, "
                         "its weights are all its own")
    saved = read_config(lower_dir)  # FileNotFoundError names the directory
    if saved.to_dict() != model.lower.config.to_dict():
        raise ValueError(f"{lower_dir} holds a {saved.temporal_compression}x tokenizer with "
                         "another config than this model's lower one; save model.lower there "
                         "first")
    fingerprint = model_fingerprint(model.lower)
    from .model import VideoTokenizer

    on_disk = model_fingerprint(load_pretrained(VideoTokenizer, lower_dir))
    if on_disk != fingerprint:
        raise ValueError(f"{lower_dir} holds other weights than this model's lower tokenizer "
                         f"(fingerprint {on_disk} != {fingerprint}); save model.lower there first")
    stage = {k: v for k, v in tensors.items() if not k.startswith(_LOWER_PREFIXES)}
    rel = os.path.relpath(os.path.abspath(lower_dir), os.path.abspath(directory))
    return stage, {**meta, LOWER_KEY: rel.replace(os.sep, "/"), LOWER_FINGERPRINT_KEY: fingerprint}


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


def _read_metadata(path: str) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(path, framework="pt") as f:
        return f.metadata() or {}


def _load_lower(directory: str, config: TokenizerConfig, meta: dict[str, str]):
    """The lower tokenizer a stage-only checkpoint names (relative to ``directory``), checked
    against the config and the fingerprint it was saved with."""
    ref = meta[LOWER_KEY]
    where = f"{os.path.join(directory, WEIGHTS_NAME)} (saved on top of {ref!r})"
    if not config.growth:
        raise CheckpointError(f"{where}: names a lower model, but {CONFIG_NAME} records no "
                              "growth stage")
    if os.path.isabs(ref):
        raise CheckpointError(f"{where}: the lower model must be a relative path")
    lower_dir = os.path.normpath(os.path.join(directory, ref))
    if not os.path.isdir(lower_dir):
        raise FileNotFoundError(f"{where}: its lower model {lower_dir} is missing; keep the "
                                "saved models of one family next to each other")
    from .model import VideoTokenizer

    lower = load_pretrained(VideoTokenizer, lower_dir)
    expected = TokenizerConfig.from_dict({**config.to_dict(), "growth": config.growth[:-1]})
    if lower.config.to_dict() != expected.to_dict():
        raise CheckpointError(f"{where}: {lower_dir} holds another tokenizer than the one this "
                              "model was grown on (configs differ)")
    fingerprint = model_fingerprint(lower)
    if fingerprint != meta.get(LOWER_FINGERPRINT_KEY):
        raise CheckpointError(f"{where}: {lower_dir} holds other weights than the ones this "
                              f"model was grown on (fingerprint {fingerprint} != "
                              f"{meta.get(LOWER_FINGERPRINT_KEY)})")
    return lower


def load_pretrained(cls, directory: str | os.PathLike, device=None, dtype=None) -> "VideoTokenizer":
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"tokenizer directory not found: {directory}")
    config = TokenizerConfig.from_file(os.path.join(directory, CONFIG_NAME))
    weights_path = os.path.join(directory, WEIGHTS_NAME)
    weights = _read_weights(weights_path)
    meta = _read_metadata(weights_path)
    if LOWER_KEY in meta:  # stage-only weights on top of a separately saved lower model
        from ..growth import grow

        stage = config.growth[-1] if config.growth else {}
        model = grow(_load_lower(directory, config, meta), stage.get("factor", 2),
                     **{k: stage[k] for k in ("mixing", "norm_center") if k in stage})
    elif config.growth:  # a grown tokenizer: its base grown by each recorded stage
        from ..growth import from_config

        model = from_config(config)
    else:
        model = cls(config)
    saved = {t.dtype for t in weights.values() if t.is_floating_point()}
    if dtype is None and len(saved) == 1:  # restore a bf16/fp16 checkpoint in its own dtype
        model.to(dtype=saved.pop())
    expected = model.state_dict()
    if LOWER_KEY in meta:
        expected = {k: v for k, v in expected.items() if not k.startswith(_LOWER_PREFIXES)}
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
    model.load_state_dict(weights, strict=LOWER_KEY not in meta)
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
    # Fields added later hash only when they differ from the value older models had, so
    # latents written before they existed still match their tokenizer.
    for key, old in (("patch_size", 1), ("patch_method", "shuffle"), ("resample_shortcut", False)):
        if cfg.get(key) == old:
            cfg.pop(key)
    if all(cfg.get("spatial_downsample", [])):
        cfg.pop("spatial_downsample", None)
    h = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode())
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().to("cpu").to(torch.bfloat16).to(torch.float32).contiguous()
        h.update(f"{name}:{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]


def read_config(directory: str | os.PathLike) -> TokenizerConfig:
    """The config of a saved tokenizer, without loading its weights."""
    return TokenizerConfig.from_file(os.path.join(os.fspath(directory), CONFIG_NAME))


__all__ = ["CheckpointError", "WEIGHTS_NAME", "LOWER_KEY", "LOWER_FINGERPRINT_KEY", "save_pretrained", "load_pretrained", "read_config",
           "model_fingerprint"]
