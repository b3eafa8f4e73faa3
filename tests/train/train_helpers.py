"""Small, fast training setups shared by the trainer tests."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from bootvid.train import TrainConfig

# A 4x tokenizer of ~2M parameters at 5x16x16: a training step takes a fraction of a second.
TINY_MODEL = {"base_channels": 16, "norm_groups": 4}


def tiny_config(**overrides) -> TrainConfig:
    base = {"model.overrides": dict(TINY_MODEL), "data.frames": 5, "data.size": 16,
            "data.num_workers": 0, "run.batch_size": 2, "run.max_steps": 4,
            "run.checkpoint_every": 2, "run.log_every": 1, "run.preview_every": 2,
            "optim.warmup_steps": 2, "loss.gan": 0.0}
    return TrainConfig.for_preset("tiny").merged({**base, **overrides})


class FixedClips(Dataset):
    """``n`` fixed random clips, item ``i`` is clip ``i % n``: a deterministic data set."""

    def __init__(self, n: int = 4, frames: int = 5, size: int = 16, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        # smooth clips (low-frequency noise upsampled): learnable in a few steps
        low = torch.rand(n, 3, frames, 4, 4, generator=g) * 2 - 1
        self.clips = torch.nn.functional.interpolate(low, size=(frames, size, size),
                                                     mode="trilinear", align_corners=False)

    def __len__(self) -> int:
        return 10**6

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.clips[i % len(self.clips)]


def weights(path: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(path)
