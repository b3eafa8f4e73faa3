"""A diffusion transformer (DiT, Peebles & Xie 2023) on video latents ``[B, C, T, H, W]``.

Used for rectified-flow training on a causal video tokenizer's latents: ``forward(x, t, y)``
predicts the velocity for latent ``x`` at time ``t`` (in [0, 1]) with optional class ``y``.

- Patches of ``patch_size = (pt, ph, pw)`` become tokens (``patchify``: a pure reshape, t-major
  order) and a Linear embeds them (the same as a Conv3d with kernel = stride = patch).
- Conditioning ``c`` = MLP(sinusoidal(t * 1000)) (+ a label embedding when
  ``num_classes > 0``; row ``num_classes`` is the "null" label for classifier-free guidance).
- Blocks: adaLN-Zero (shift / scale / gate from ``c``, gates zero-initialised so every block
  starts as the identity), full self-attention over all ``T*H*W`` tokens with q/k RMSNorm and
  3D RoPE (:mod:`.rope`, computed from the grid, so unseen lengths and resolutions work), and
  a GELU(tanh) MLP.
- The final layer (adaLN + Linear) is zero-initialised: the model predicts exactly 0 at init.

Saved as ``config.json`` + ``model.safetensors`` (``save_pretrained`` / ``from_pretrained``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..fileio import atomic_write, atomic_write_text
from .rope import apply_rope, rope_3d, rope_split

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
_MODEL_NAME = "DiT"
#: Sinusoidal frequencies of the timestep embedding (DiT's ``frequency_embedding_size``).
TIME_FREQ_DIM = 256


@dataclass
class DiTConfig:
    """Hyper-parameters of :class:`DiT` (defaults: DiT-S sized, 16-channel latents)."""

    in_channels: int = 16
    patch_size: tuple[int, int, int] = (1, 2, 2)  # (pt, ph, pw)
    hidden_size: int = 384
    depth: int = 12
    num_heads: int = 6
    mlp_ratio: float = 4.0
    # 0: unconditional; else labels 0..num_classes-1, and num_classes is the "null" label.
    num_classes: int = 0
    qk_norm: bool = True  # RMSNorm on q and k per head: keeps attention logits bounded
    rope_theta: float = 10000.0

    def __post_init__(self) -> None:
        if isinstance(self.patch_size, (list, tuple)):
            self.patch_size = tuple(self.patch_size)
        self.validate()

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def mlp_hidden(self) -> int:
        return int(self.hidden_size * self.mlp_ratio)

    @property
    def patch_dim(self) -> int:
        """Channels of one patchified token: ``in_channels * pt * ph * pw``."""
        return self.in_channels * math.prod(self.patch_size)

    def validate(self) -> None:
        def positive_int(name: str) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"DiTConfig.{name} must be a positive integer, got {v!r}")

        for name in ("in_channels", "hidden_size", "depth", "num_heads"):
            positive_int(name)
        ps = self.patch_size
        if (not isinstance(ps, tuple) or len(ps) != 3
                or any(isinstance(p, bool) or not isinstance(p, int) or p <= 0 for p in ps)):
            raise ValueError(f"DiTConfig.patch_size must be three positive integers "
                             f"(pt, ph, pw), got {ps!r}")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"DiTConfig.hidden_size ({self.hidden_size}) must be divisible by "
                             f"num_heads ({self.num_heads})")
        try:
            rope_split(self.head_dim)
        except ValueError as e:
            raise ValueError(f"DiTConfig: head_dim = hidden_size / num_heads = "
                             f"{self.head_dim} does not suit 3D RoPE: {e}") from None
        if not self.mlp_ratio > 0 or self.mlp_hidden < 1:
            raise ValueError(f"DiTConfig.mlp_ratio must be > 0, got {self.mlp_ratio!r}")
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) \
                or self.num_classes < 0:
            raise ValueError(f"DiTConfig.num_classes must be an integer >= 0 (0: "
                             f"unconditional), got {self.num_classes!r}")
        if not isinstance(self.qk_norm, bool):
            raise ValueError(f"DiTConfig.qk_norm must be a bool, got {self.qk_norm!r}")
        if not self.rope_theta > 1:
            raise ValueError(f"DiTConfig.rope_theta must be > 1, got {self.rope_theta!r}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["patch_size"] = list(self.patch_size)  # what JSON gives back anyway
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DiTConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown DiTConfig key(s) {unknown}; known: {sorted(known)}")
        return cls(**d)


# name -> DiTConfig overrides (model size only; in_channels / patch_size / num_classes are
# the caller's).
DIT_PRESETS: dict[str, dict[str, Any]] = {
    "test": dict(hidden_size=32, depth=2, num_heads=2),  # unit tests: milliseconds
    "tiny": dict(hidden_size=192, depth=6, num_heads=3),  # CPU runs
    "small": dict(hidden_size=384, depth=12, num_heads=6),  # DiT-S
    "base": dict(hidden_size=768, depth=12, num_heads=12),  # DiT-B
}


def dit_config(preset: str = "tiny", **overrides) -> DiTConfig:
    """The config of a preset (``DIT_PRESETS``), with ``overrides`` on top."""
    if preset not in DIT_PRESETS:
        raise ValueError(f"unknown DiT preset {preset!r}; presets: {sorted(DIT_PRESETS)}")
    return DiTConfig.from_dict({**DIT_PRESETS[preset], **overrides})


# ---- patchify ------------------------------------------------------------------------------

def patchify(x: Tensor, patch_size: tuple[int, int, int]) -> tuple[Tensor, tuple[int, int, int]]:
    """``[B, C, T, H, W]`` -> tokens ``[B, N, C*pt*ph*pw]`` and the grid ``(T/pt, H/ph, W/pw)``.

    Tokens run t-major, then h, then w (token ``(t*H' + h)*W' + w``); a token's channels run
    c-major, then the offsets in the patch (Conv3d's weight layout). Any memory layout."""
    if x.ndim != 5:
        raise ValueError(f"patchify expects [B, C, T, H, W], got shape {tuple(x.shape)}")
    B, C, T, H, W = x.shape
    pt, ph, pw = patch_size
    if T % pt or H % ph or W % pw:
        raise ValueError(f"latent (T, H, W) = {(T, H, W)} is not divisible by the patch size "
                         f"{tuple(patch_size)}")
    grid = (T // pt, H // ph, W // pw)
    x = x.reshape(B, C, grid[0], pt, grid[1], ph, grid[2], pw)
    x = x.permute(0, 2, 4, 6, 1, 3, 5, 7)  # B, T', H', W', C, pt, ph, pw
    return x.reshape(B, math.prod(grid), C * pt * ph * pw), grid


def unpatchify(tokens: Tensor, grid: tuple[int, int, int],
               patch_size: tuple[int, int, int]) -> Tensor:
    """The exact inverse of :func:`patchify`: ``[B, N, C*pt*ph*pw]`` -> ``[B, C, T, H, W]``
    (contiguous)."""
    pt, ph, pw = patch_size
    B, N, P = tokens.shape
    if N != math.prod(grid) or P % (pt * ph * pw):
        raise ValueError(f"tokens {tuple(tokens.shape)} do not match grid {tuple(grid)} and "
                         f"patch size {tuple(patch_size)}")
    C = P // (pt * ph * pw)
    x = tokens.reshape(B, *grid, C, pt, ph, pw).permute(0, 4, 1, 5, 2, 6, 3, 7)
    return x.reshape(B, C, grid[0] * pt, grid[1] * ph, grid[2] * pw)


# ---- layers --------------------------------------------------------------------------------

def _modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    return x * (1 + scale) + shift


def timestep_embedding(t: Tensor, dim: int = TIME_FREQ_DIM,
                       max_period: float = 10000.0) -> Tensor:
    """``[B]`` -> ``[B, dim]`` sinusoidal embedding (cos | sin), in fp32. ``t`` is already
    scaled (the model passes ``t * 1000`` so that [0, 1] spans DiT's usual range)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period)
                      * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class RMSNorm(nn.Module):
    """RMSNorm with a learned gain, computed in fp32 and returned in the input's dtype (so q/k
    stay bf16 under autocast)."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (xf * self.weight.float()).to(x.dtype)


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int, qk_norm: bool):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q_norm = RMSNorm(self.head_dim) if qk_norm else nn.Identity()
        self.k_norm = RMSNorm(self.head_dim) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        B, N, D = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # [B, heads, N, head_dim]
        q = apply_rope(self.q_norm(q), cos, sin).to(v.dtype)
        k = apply_rope(self.k_norm(k), cos, sin).to(v.dtype)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(B, N, D))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class DiTBlock(nn.Module):
    """Pre-norm transformer block with adaLN-Zero conditioning."""

    def __init__(self, config: DiTConfig):
        super().__init__()
        D = config.hidden_size
        self.norm1 = nn.LayerNorm(D, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(D, config.num_heads, config.qk_norm)
        self.norm2 = nn.LayerNorm(D, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(D, config.mlp_hidden)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(D, 6 * D))

    def forward(self, x: Tensor, c: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = (
            self.adaLN_modulation(c)[:, None].chunk(6, dim=-1))
        x = x + gate_msa * self.attn(_modulate(self.norm1(x), shift_msa, scale_msa), cos, sin)
        return x + gate_mlp * self.mlp(_modulate(self.norm2(x), shift_mlp, scale_mlp))


class FinalLayer(nn.Module):
    def __init__(self, hidden: int, out_dim: int):
        super().__init__()
        self.norm_final = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden, out_dim)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 2 * hidden))

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift, scale = self.adaLN_modulation(c)[:, None].chunk(2, dim=-1)
        return self.linear(_modulate(self.norm_final(x), shift, scale))


# ---- the model -----------------------------------------------------------------------------

class DiT(nn.Module):
    """Diffusion transformer on ``[B, C, T, H, W]`` latents; see the module docstring.

    ``DiT(config, **overrides)``: ``config`` defaults to ``DiTConfig()``; ``overrides`` replace
    its fields (``DiT(dit_config("tiny"), num_classes=10)``)."""

    def __init__(self, config: DiTConfig | None = None, **overrides):
        super().__init__()
        config = config if config is not None else DiTConfig()
        if overrides:
            config = DiTConfig.from_dict({**config.to_dict(), **overrides})
        self.config = config
        D = config.hidden_size
        self.x_embedder = nn.Linear(config.patch_dim, D)  # == Conv3d(kernel=stride=patch)
        self.t_embedder = nn.Sequential(nn.Linear(TIME_FREQ_DIM, D), nn.SiLU(), nn.Linear(D, D))
        self.y_embedder = (nn.Embedding(config.num_classes + 1, D)
                           if config.num_classes > 0 else None)
        self.blocks = nn.ModuleList(DiTBlock(config) for _ in range(config.depth))
        self.final_layer = FinalLayer(D, config.patch_dim)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """DiT's init: xavier-uniform Linears with zero biases, N(0, 0.02) embeddings, and
        zero adaLN modulations and output layer (adaLN-Zero: identity blocks, zero output)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        if self.y_embedder is not None:
            nn.init.normal_(self.y_embedder.weight, std=0.02)
        nn.init.normal_(self.t_embedder[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder[2].weight, std=0.02)
        for block in self.blocks:
            nn.init.zeros_(block.adaLN_modulation[-1].weight)
            nn.init.zeros_(block.adaLN_modulation[-1].bias)
        for layer in (self.final_layer.adaLN_modulation[-1], self.final_layer.linear):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    @property
    def null_label(self) -> int | None:
        """The label index for "no class" (classifier-free guidance), None if unconditional."""
        return self.config.num_classes if self.config.num_classes > 0 else None

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ---- shapes ---------------------------------------------------------------------------

    def patchify(self, x: Tensor) -> tuple[Tensor, tuple[int, int, int]]:
        return patchify(x, self.config.patch_size)

    def unpatchify(self, tokens: Tensor, grid: tuple[int, int, int]) -> Tensor:
        return unpatchify(tokens, grid, self.config.patch_size)

    def check_latent(self, x: Tensor) -> None:
        """ValueError saying what is wrong with latent ``x`` and what is expected."""
        cfg = self.config
        expected = (f"expected a floating-point latent [B, {cfg.in_channels}, T, H, W] with "
                    f"T, H, W divisible by patch_size {cfg.patch_size}")
        if not isinstance(x, Tensor):
            raise ValueError(f"latent must be a Tensor, got {type(x).__name__}; {expected}")
        if x.ndim != 5:
            raise ValueError(f"latent has rank {x.ndim} (shape {tuple(x.shape)}); {expected}")
        if x.shape[1] != cfg.in_channels:
            raise ValueError(f"latent has {x.shape[1]} channels (shape {tuple(x.shape)}), but "
                             f"the model has in_channels={cfg.in_channels}; {expected}")
        for name, n, p in zip("THW", x.shape[2:], cfg.patch_size):
            if n == 0 or n % p:
                raise ValueError(f"latent {name}={n} (shape {tuple(x.shape)}) is not a positive "
                                 f"multiple of the patch size {p}; {expected}")
        if not x.is_floating_point():
            raise ValueError(f"latent has dtype {x.dtype}; {expected}")

    def _times(self, t: Tensor | float, batch: int, device: torch.device) -> Tensor:
        t = torch.as_tensor(t, device=device, dtype=torch.float32)
        if t.numel() == 1:
            return t.reshape(1).expand(batch)
        if t.shape != (batch,):
            raise ValueError(f"t must be a scalar or have shape [B] = [{batch}], got "
                             f"{tuple(t.shape)}")
        return t

    def _labels(self, y: Tensor | None, batch: int, device: torch.device) -> Tensor | None:
        n = self.config.num_classes
        if n == 0:
            if y is not None:
                raise ValueError("y given to an unconditional model (num_classes=0); pass "
                                 "y=None or build the model with num_classes > 0")
            return None
        if y is None:
            return torch.full((batch,), n, dtype=torch.long, device=device)
        y = torch.as_tensor(y, device=device)
        if y.dtype.is_floating_point or y.dtype == torch.bool or y.shape != (batch,):
            raise ValueError(f"y must be integer labels of shape [B] = [{batch}], got "
                             f"{y.dtype} {tuple(y.shape)}")
        # Range check only on the CPU: on a GPU it would sync every step (and the embedding
        # asserts anyway).
        if y.device.type == "cpu" and len(y) and (int(y.min()) < 0 or int(y.max()) > n):
            raise ValueError(f"labels must be in 0..{n - 1} (or {n}: the null label), got "
                             f"{y.tolist()}")
        return y.long()

    # ---- forward ----------------------------------------------------------------------------

    def forward(self, x: Tensor, t: Tensor | float, y: Tensor | None = None) -> Tensor:
        """Velocity prediction for latent ``x`` ``[B, C, T, H, W]`` at times ``t`` (``[B]``,
        a 0-d tensor or a float) with labels ``y`` (``[B]`` long; None: the null label, or
        none at all for an unconditional model). Returns ``x``'s shape and dtype."""
        self.check_latent(x)
        B = x.shape[0]
        w = self.x_embedder.weight
        tokens, grid = self.patchify(x)
        h = self.x_embedder(tokens.to(w.dtype))

        t = self._times(t, B, x.device)
        c = self.t_embedder(timestep_embedding(t * 1000).to(w.dtype))
        y = self._labels(y, B, x.device)
        if y is not None:
            c = c + self.y_embedder(y)

        cos, sin = rope_3d(grid, self.config.head_dim, self.config.rope_theta, device=x.device)
        for block in self.blocks:
            h = block(h, c, cos, sin)
        out = self.final_layer(h, c)
        return self.unpatchify(out, grid).to(x.dtype)

    # ---- persistence ----------------------------------------------------------------------

    def save_pretrained(self, directory: str | os.PathLike, metadata: dict | None = None) -> None:
        """Write ``config.json`` (``{"model": "DiT", "config", "metadata"}``) and
        ``model.safetensors`` into ``directory``, each atomically. ``metadata`` must be
        JSON-serialisable (training step, tokenizer used, latent scale, ...)."""
        from safetensors.torch import save_file

        directory = os.fspath(directory)
        try:
            text = json.dumps({"model": _MODEL_NAME, "config": self.config.to_dict(),
                               "metadata": dict(metadata or {})}, indent=2)
        except (TypeError, ValueError) as e:
            raise ValueError(f"metadata must be JSON-serialisable: {e}") from e
        os.makedirs(directory, exist_ok=True)
        # Contiguous CPU copies: CUDA or non-contiguous parameters save the same bytes.
        tensors = {k: v.detach().to("cpu").contiguous() for k, v in self.state_dict().items()}
        atomic_write(os.path.join(directory, WEIGHTS_NAME),
                     lambda p: save_file(tensors, p, metadata={"format": "pt",
                                                               "model": _MODEL_NAME}))
        atomic_write_text(os.path.join(directory, CONFIG_NAME), text + "\n")

    @staticmethod
    def _read_config_json(directory: str | os.PathLike) -> dict[str, Any]:
        directory = os.fspath(directory)
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"DiT directory not found: {directory}")
        path = os.path.join(directory, CONFIG_NAME)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"DiT config not found: {path} (save_pretrained writes "
                                    f"{CONFIG_NAME} and {WEIGHTS_NAME})")
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: not a readable JSON file: {e}") from e
        if not isinstance(data, dict) or data.get("model") != _MODEL_NAME:
            found = data.get("model") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"{path} does not describe a DiT (model: {found!r}, expected "
                             f"{_MODEL_NAME!r})")
        return data

    @staticmethod
    def read_metadata(directory: str | os.PathLike) -> dict:
        """The ``metadata`` saved with a model, without loading its weights."""
        return dict(DiT._read_config_json(directory).get("metadata") or {})

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, device=None) -> DiT:
        """Rebuild a model saved by ``save_pretrained`` (in eval mode; weights in their saved
        dtype). Loads safetensors only, never pickles."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        directory = os.fspath(directory)
        data = cls._read_config_json(directory)
        config_path = os.path.join(directory, CONFIG_NAME)
        try:
            config = DiTConfig.from_dict(data.get("config") or {})
        except (TypeError, ValueError) as e:
            raise ValueError(f"{config_path}: invalid DiT config: {e}") from e
        path = os.path.join(directory, WEIGHTS_NAME)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"DiT weights not found: {path} (save_pretrained writes "
                                    f"{WEIGHTS_NAME} next to {CONFIG_NAME})")
        try:
            weights = load_file(path, device="cpu")
        except (SafetensorError, OSError, ValueError, RuntimeError) as e:
            raise ValueError(f"{path}: not a readable safetensors file (corrupt or "
                             f"truncated?): {e}") from e

        model = cls(config)
        expected = model.state_dict()
        missing = sorted(set(expected) - set(weights))
        unexpected = sorted(set(weights) - set(expected))
        if missing or unexpected:
            raise ValueError(f"{path} does not match the model built from {CONFIG_NAME}: "
                             f"missing {missing[:5]}, unexpected {unexpected[:5]}")
        for name, ref in expected.items():
            if weights[name].shape != ref.shape:
                raise ValueError(f"{path}: tensor {name!r} has shape "
                                 f"{tuple(weights[name].shape)}, but the model built from "
                                 f"{CONFIG_NAME} expects {tuple(ref.shape)}")
        dtypes = {v.dtype for v in weights.values() if v.is_floating_point()}
        if len(dtypes) == 1:  # a bf16 checkpoint loads as bf16
            model.to(dtype=dtypes.pop())
        model.load_state_dict(weights)
        return model.to(device=device).eval()


# ---- cost ---------------------------------------------------------------------------------

def dit_flops_breakdown(config: DiTConfig,
                        latent_shape: tuple[int, int, int, int]) -> dict[str, int]:
    """Forward FLOPs per sample (2 per multiply-add) of every matmul, by part, for a latent
    ``(C, T, H, W)``. Counted: patch embedding, timestep MLP, adaLN modulations (once per
    sample, not per token), qkv, attention scores (q k^T) and weighted sum (P v), output
    projection, MLP and final linear. Not counted: biases, norms, RoPE, softmax, activations
    and modulation (elementwise, O(tokens * hidden)), and the label lookup."""
    C, T, H, W = latent_shape
    pt, ph, pw = config.patch_size
    if C != config.in_channels or T % pt or H % ph or W % pw or min(T, H, W) <= 0:
        raise ValueError(f"latent shape {tuple(latent_shape)} does not suit the config: "
                         f"expected ({config.in_channels}, T, H, W) with T, H, W divisible by "
                         f"{config.patch_size}")
    N = (T // pt) * (H // ph) * (W // pw)
    D, M, P, L = config.hidden_size, config.mlp_hidden, config.patch_dim, config.depth
    return {
        "patch_embed": 2 * N * P * D,
        "time_embed": 2 * (TIME_FREQ_DIM * D + D * D),
        "adaln": 2 * L * D * 6 * D + 2 * D * 2 * D,
        "qkv": 2 * L * N * D * 3 * D,
        "attention": 2 * L * 2 * N * N * D,  # scores + weighted sum, summed over heads
        "out_proj": 2 * L * N * D * D,
        "mlp": 2 * L * 2 * N * D * M,
        "final": 2 * N * D * P,
    }


def dit_flops(config: DiTConfig, latent_shape: tuple[int, int, int, int]) -> int:
    """Forward FLOPs per sample for a latent ``(C, T, H, W)``; see :func:`dit_flops_breakdown`
    for what is counted. A training step costs about 3x this."""
    return sum(dit_flops_breakdown(config, latent_shape).values())


__all__ = ["DiTConfig", "DIT_PRESETS", "dit_config", "DiT", "dit_flops", "dit_flops_breakdown",
           "patchify", "unpatchify", "timestep_embedding", "CONFIG_NAME", "WEIGHTS_NAME"]
