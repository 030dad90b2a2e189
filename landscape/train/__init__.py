"""Training: seeded, deterministic, resumable, written to a study file as it goes."""

from landscape.train.config import TrainConfig
from landscape.train.evaluate import evaluate
from landscape.train.loop import METRICS, TrainResult, train
from landscape.train.optim import lr_factor, make_optimizer
from landscape.train.sweep import TrainJob, TrainOutcome, train_runs

__all__ = ["METRICS", "TrainConfig", "TrainJob", "TrainOutcome", "TrainResult", "evaluate",
           "lr_factor", "make_optimizer", "train", "train_runs"]
