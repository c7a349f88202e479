"""The training stage: the Accelerate loop without host syncs (:mod:`~llmts.train.loop`), the
chunked or compiled loss (:mod:`~llmts.train.loss`), atomic checkpoints and exact resume
(:mod:`~llmts.train.checkpoint`)."""

from llmts.train.checkpoint import find_latest, load_checkpoint, save_checkpoint
from llmts.train.loop import TrainResult, make_accelerator, train

__all__ = [
    "TrainResult",
    "find_latest",
    "load_checkpoint",
    "make_accelerator",
    "save_checkpoint",
    "train",
]
