"""Damaged checkpoints for the tests of loading them (tests/train/test_checkpoint.py, in process)
and of the CLI refusing them (tests/e2e/test_hardening.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.helpers import compose


class Evil:
    """Unpickling this runs ``os.system``: a checkpoint must never be unpickled with code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _truncate(file: Path) -> None:
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])


def _torch_save(obj):
    def damage(file: Path) -> None:
        import torch

        torch.save(obj, file)

    return damage


DAMAGE = {  # name: (file, how to damage it)
    "trainable truncated": ("trainable.safetensors", _truncate),
    "trainable empty": ("trainable.safetensors", lambda f: f.write_bytes(b"")),
    "trainable garbage": ("trainable.safetensors", lambda f: f.write_bytes(os.urandom(4096))),
    "trainable missing": ("trainable.safetensors", lambda f: f.unlink()),
    "optimizer truncated": ("optimizer.pt", _truncate),
    "optimizer garbage": ("optimizer.pt", lambda f: f.write_bytes(os.urandom(4096))),
    "optimizer missing": ("optimizer.pt", lambda f: f.unlink()),
    "optimizer wrong content": ("optimizer.pt", _torch_save({"not": "an optimizer state"})),
    "scheduler wrong content": ("scheduler.pt", _torch_save({"x": 1})),
    "rng wrong content": ("rng.pt", _torch_save({"cpu": [0, 1, 2]})),
    "rng truncated": ("rng.pt", _truncate),
    "state not json": ("state.json", lambda f: f.write_text('{"step": 5, "hist')),
    "state binary": ("state.json", lambda f: f.write_bytes(os.urandom(64))),
    "state empty object": ("state.json", lambda f: f.write_text("{}")),
    "state history not rows": (
        "state.json",
        lambda f: f.write_text('{"step": 5, "history": "abc"}'),
    ),
    "state missing": ("state.json", lambda f: f.unlink()),
}


def fresh_training_state(cfg):
    import torch

    from llmts.model.build import build_model
    from llmts.train.loop import make_scheduler

    model = build_model(cfg.model, cfg.lora, cfg.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    return model, optimizer, make_scheduler(optimizer, cfg.optimizer, 10)


def damaged_copy(pristine: Path, where: Path, case: str) -> tuple[Path, str]:
    file, damage = DAMAGE[case]
    folder = where / "step-5"
    shutil.copytree(pristine, folder)
    damage(folder / file)
    return folder, file


def save_pristine_checkpoint(run_dir: Path):
    """A real checkpoint of the smoke model (with optimizer moments), made in-process:
    ``(cfg, checkpoints/step-5)``."""
    import torch

    from llmts.train.checkpoint import save_checkpoint

    cfg = compose("experiment=smoke")
    model, optimizer, scheduler = fresh_training_state(cfg)
    for p in optimizer.param_groups[0]["params"]:
        p.grad = torch.full_like(p, 1e-3)
    optimizer.step()
    scheduler.step()
    path = save_checkpoint(run_dir, 5, model, optimizer, scheduler, [{"step": 5, "loss": 1.0}])
    return cfg, path
