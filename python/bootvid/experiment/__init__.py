"""Experiments that reproduce the paper's claims with bootvid's own commands
(``bootvid experiment promag``)."""

from .promag import ExperimentSettings, RunSpec, plan, run_experiment
from .split import SplitVideo, prepare_split

__all__ = ["ExperimentSettings", "RunSpec", "SplitVideo", "plan", "prepare_split",
           "run_experiment"]
