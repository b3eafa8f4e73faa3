"""LPIPS-VGG perceptual distance (Zhang et al., CVPR 2018), built in plain torch.

The network mirrors the ``lpips`` pip package's ``LPIPS(net="vgg")`` module for module, so
its state dict has the same keys: ``scaling_layer.{shift,scale}``,
``net.slice{1..5}.{i}.{weight,bias}`` (torchvision's VGG16 ``features`` indices 0..29, up
to relu5_3) and ``lin{0..4}.model.1.weight``. Nothing is ever downloaded: real weights
come from a local file through ``LPIPS.from_file``. ``LPIPS()`` alone has random weights
(for tests only).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

# torchvision VGG16 `features` up to relu5_3: conv widths, "M" = 2x2 max pool.
_VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                 512, 512, 512)
# LPIPS taps relu1_2, relu2_2, relu3_3, relu4_3, relu5_3: `features` index ranges per slice.
_SLICE_RANGES = ((0, 4), (4, 9), (9, 16), (16, 23), (23, 30))
LPIPS_CHANNELS = (64, 128, 256, 512, 512)

_IMAGENET_SHIFT = (-0.030, -0.088, -0.188)
_IMAGENET_SCALE = (0.458, 0.448, 0.450)
_NORM_EPS = 1e-10  # as lpips.normalize_tensor

_WEIGHTS_HELP = (
    "provide a local LPIPS-VGG weights file: either one combined file with the lpips "
    "package's full LPIPS(net='vgg') state dict (net.slice*.*, lin*.model.1.weight), or the "
    "lpips package's lin-only weights (lpips/weights/v0.1/vgg.pth) plus torchvision's vgg16 "
    "ImageNet weights (vgg16-397923af.pth) as backbone=...; .safetensors, .pth or .pt. "
    "Nothing is downloaded")


def _vgg16_features() -> list[nn.Module]:
    """The first 30 modules of torchvision's ``vgg16().features`` (same indices)."""
    layers: list[nn.Module] = []
    in_channels = 3
    for entry in _VGG16_LAYOUT:
        if entry == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(in_channels, entry, 3, padding=1), nn.ReLU()]
            in_channels = entry
    assert len(layers) == _SLICE_RANGES[-1][1]
    return layers


class _ScalingLayer(nn.Module):
    """Maps [-1, 1] inputs to the scale VGG was trained on (lpips' ScalingLayer)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("shift", torch.tensor(_IMAGENET_SHIFT)[None, :, None, None])
        self.register_buffer("scale", torch.tensor(_IMAGENET_SCALE)[None, :, None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale


class _VGG16Slices(nn.Module):
    """VGG16 conv stack cut into the five LPIPS slices, keeping torchvision's indices."""

    def __init__(self) -> None:
        super().__init__()
        features = _vgg16_features()
        for n, (start, stop) in enumerate(_SLICE_RANGES, start=1):
            slice_ = nn.Sequential()
            for index in range(start, stop):
                slice_.add_module(str(index), features[index])
            self.add_module(f"slice{n}", slice_)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for n in range(1, len(_SLICE_RANGES) + 1):
            x = getattr(self, f"slice{n}")(x)
            outputs.append(x)
        return outputs


class _LinLayer(nn.Module):
    """1x1 conv to one channel, no bias. Index 0 stands in for lpips' dropout (a no-op in
    eval) so the weight's key is ``model.1.weight`` as in lpips' files."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Identity(), nn.Conv2d(channels, 1, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def _unit_normalise(features: torch.Tensor) -> torch.Tensor:
    # vector_norm's backward is 0 (not NaN) where a location's features are all zero, which
    # happens after ReLU; lpips' sqrt(sum(x^2)) would give NaN gradients there.
    return features / (torch.linalg.vector_norm(features, dim=1, keepdim=True) + _NORM_EPS)


class LPIPS(nn.Module):
    """LPIPS-VGG distance between images or videos in [-1, 1]; frozen and always in eval mode.

    ``forward(x, y)`` returns the mean distance (a scalar) over images ``(N, 3, H, W)``, or
    over frames of videos ``(B, 3, T, H, W)``; gradients flow to the inputs (not the
    weights). Per layer: unit-normalise features over channels, square the difference,
    weight channels by the 1x1 ``lin`` layer, average over space; then sum the 5 layers.
    """

    def __init__(self) -> None:
        super().__init__()
        self.scaling_layer = _ScalingLayer()
        self.net = _VGG16Slices()
        for k, channels in enumerate(LPIPS_CHANNELS):
            self.add_module(f"lin{k}", _LinLayer(channels))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "LPIPS":
        """Stays in eval mode: a loss network must not change when its owner trains."""
        return super().train(False)

    # ----------------------------------------------------------------------------- loading
    @classmethod
    def from_file(cls, path: str | Path, backbone: str | Path | None = None) -> "LPIPS":
        """LPIPS with weights from local files (.safetensors, or .pth/.pt read with
        ``torch.load(weights_only=True)``); nothing is downloaded.

        - ``path`` alone: the lpips package's full ``LPIPS(net="vgg")`` state dict
          (``net.slice1.0.weight`` ... ``net.slice5.28.bias``, ``lin0.model.1.weight`` ...
          ``lin4.model.1.weight``; ``scaling_layer.*`` and lpips' duplicate ``lins.*``
          keys are accepted).
        - ``path`` with only the ``lin*`` weights (e.g. lpips' ``weights/v0.1/vgg.pth``)
          plus ``backbone``: a torchvision vgg16 state dict (``features.0.weight`` ...
          ``features.28.bias``; ``classifier.*`` is ignored).

        Raises FileNotFoundError for a missing file, ValueError for missing, unexpected or
        mis-shaped keys (named in the message).
        """
        state = _lpips_keys(_read_state_dict(path))
        if backbone is not None:
            clash = sorted(k for k in state if k.startswith("net."))
            if clash:
                raise ValueError(f"{path} already holds VGG weights ({clash[0]}, ...); pass "
                                 f"either a combined file or a lin-only file plus backbone=, "
                                 f"not both")
            state.update(_torchvision_vgg16_keys(_read_state_dict(backbone), backbone))
        model = cls()
        model._load_checked(state, path if backbone is None else f"{path} + {backbone}")
        return model

    def _load_checked(self, state: dict[str, torch.Tensor], source: object) -> None:
        expected = self.state_dict()
        optional = {"scaling_layer.shift", "scaling_layer.scale"}  # constants, may be absent
        missing = sorted(set(expected) - set(state) - optional)
        unexpected = sorted(set(state) - set(expected))
        wrong_shape = sorted(f"{k}: {tuple(state[k].shape)} (expected {tuple(expected[k].shape)})"
                             for k in set(state) & set(expected)
                             if state[k].shape != expected[k].shape)
        problems = []
        if missing:
            no_backbone = not any(k.startswith("net.") for k in state)
            hint = " (a lin-only file needs backbone=<torchvision vgg16 weights>)" \
                if no_backbone else ""
            problems.append(f"missing keys{hint}: {_preview(missing)}")
        if unexpected:
            problems.append(f"unexpected keys: {_preview(unexpected)}")
        if wrong_shape:
            problems.append(f"wrong shapes: {_preview(wrong_shape)}")
        if problems:
            raise ValueError(f"LPIPS weights from {source} do not fit LPIPS-VGG: "
                             + "; ".join(problems) + f". Expected: {_WEIGHTS_HELP}")
        self.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)

    # ----------------------------------------------------------------------------- distance
    def image_distances(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """LPIPS distance per image pair: ``(N, 3, H, W)`` x2 -> ``(N,)``."""
        features_x = self.net(self.scaling_layer(x))
        features_y = self.net(self.scaling_layer(y))
        total = x.new_zeros(x.shape[0])
        for k, (fx, fy) in enumerate(zip(features_x, features_y)):
            diff = (_unit_normalise(fx) - _unit_normalise(fy)).pow(2)
            total = total + getattr(self, f"lin{k}")(diff).mean(dim=(1, 2, 3))
        return total

    def forward(self, x: torch.Tensor, y: torch.Tensor, max_frames: int | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean LPIPS distance (scalar) between ``x`` and ``y`` in [-1, 1].

        Images ``(N, 3, H, W)``, or videos ``(B, 3, T, H, W)`` compared frame by frame.
        For videos, ``max_frames`` limits the cost to that many frames (the same random
        subset of time indices for every clip, drawn with ``generator``);
        ``None`` uses all frames.
        """
        if x.shape != y.shape or x.dim() not in (4, 5) or x.shape[1] != 3:
            raise ValueError(f"LPIPS expects x and y of equal shape (N, 3, H, W) or "
                             f"(B, 3, T, H, W); got {tuple(x.shape)} and {tuple(y.shape)}")
        if x.dim() == 5:
            x, y = (_frames(v) for v in _same_frame_subset(x, y, max_frames, generator))
        return self.image_distances(x, y).mean()


def _same_frame_subset(x: torch.Tensor, y: torch.Tensor, max_frames: int | None,
                       generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    frames = x.shape[2]
    if max_frames is None or max_frames >= frames:
        return x, y
    if max_frames < 1:
        raise ValueError(f"max_frames must be >= 1 or None; got {max_frames}")
    device = generator.device if generator is not None else "cpu"
    keep = torch.randperm(frames, generator=generator, device=device)[:max_frames]
    keep = keep.sort().values.to(x.device)
    return x.index_select(2, keep), y.index_select(2, keep)


def _frames(video: torch.Tensor) -> torch.Tensor:
    """``(B, C, T, H, W) -> (B*T, C, H, W)``."""
    b, c, t, h, w = video.shape
    return video.transpose(1, 2).reshape(b * t, c, h, w)


# --------------------------------------------------------------------------- weight files
def _read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"LPIPS weights file not found: {path}. To use LPIPS, "
                                + _WEIGHTS_HELP)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    elif path.suffix in (".pth", ".pt"):
        state = torch.load(path, map_location="cpu", weights_only=True)
    else:
        raise ValueError(f"unsupported LPIPS weights file {path}: expected a .safetensors, "
                         f".pth or .pt file")
    if not isinstance(state, Mapping) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ValueError(f"{path} does not hold a flat state dict (str -> tensor)")
    return dict(state)


def _lpips_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Accepts lpips' layouts: drops a DataParallel ``module.`` prefix and maps lpips'
    ``lins.{k}.*`` (a ModuleList aliasing ``lin{k}``) onto ``lin{k}.*``."""
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    out = {}
    for key, value in state.items():
        if key.startswith("lins."):
            index, _, rest = key[len("lins."):].partition(".")
            alias = f"lin{index}.{rest}"
            if alias in state:
                continue  # the same tensor, saved twice by lpips
            key = alias
        out[key] = value
    return out


def _torchvision_vgg16_keys(state: dict[str, torch.Tensor],
                            source: object) -> dict[str, torch.Tensor]:
    """torchvision ``features.{i}.*`` -> ``net.slice{n}.{i}.*``; ``classifier.*`` dropped."""
    out, unexpected = {}, []
    for key, value in state.items():
        if key.startswith("classifier."):
            continue
        prefix, index, rest = (key.split(".", 2) + ["", ""])[:3]
        slice_number = next((n for n, (start, stop) in enumerate(_SLICE_RANGES, start=1)
                             if index.isdigit() and start <= int(index) < stop), None)
        if prefix != "features" or slice_number is None or not rest:
            unexpected.append(key)
            continue
        out[f"net.slice{slice_number}.{index}.{rest}"] = value
    if unexpected:
        raise ValueError(f"backbone {source} is not a torchvision vgg16 state dict "
                         f"(features.0.weight ... features.28.bias): unexpected keys "
                         f"{_preview(sorted(unexpected))}")
    return out


def _preview(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")
