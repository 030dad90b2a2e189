"""Training: seeded, deterministic, resumable, written to a study file as it goes."""

from landscape.train.config import TrainConfig
from landscape.train.evaluate import evaluate
from landscape.train.loop import METRICS, TrainResult, train
from landscape.train.optim import lr_factor, make_optimizer

__all__ = ["METRICS", "TrainConfig", "TrainResult", "evaluate", "lr_factor", "make_optimizer",
           "train"]
