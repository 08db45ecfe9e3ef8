"""Training: the run config, the loop, checkpoints, metrics, multi-process launch."""

from .config import TrainConfig
from .trainer import RunSummary, Trainer, TrainingDiverged

__all__ = ["RunSummary", "TrainConfig", "Trainer", "TrainingDiverged"]
