"""Training tokenizers: configs, the trainer (one process or many under torchrun), losses.

>>> from bootvid.train import TrainConfig, Trainer
>>> cfg = TrainConfig.for_preset("tiny").merged({"data.path": "videos/", "run.max_steps": 500})
>>> Trainer(cfg, "runs/tiny4x").run()                      # Stage I: 4x from scratch
>>> Trainer(cfg, "runs/tiny8x", grow_from="runs/tiny4x").run()  # grow to 8x, train the new stage

The command line does the same: ``bootvid train`` and ``bootvid grow``.
"""

from .config import ConfigError, ConfigPathError, TrainConfig
from .rundir import load_tokenizer, resolve_model_dir
from .trainer import Trainer, TrainResult, build_dataset

__all__ = ["ConfigError", "ConfigPathError", "TrainConfig", "TrainResult", "Trainer",
           "build_dataset", "load_tokenizer", "resolve_model_dir"]
