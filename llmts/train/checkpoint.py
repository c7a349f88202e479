"""Checkpoints: ``checkpoints/step-N/`` with the trainable weights (safetensors; LoRA also in peft's
format), optimizer, scheduler, RNG states and the loss history so far.

Atomic: everything is written into ``checkpoints/.tmp-step-N-*`` and renamed to ``step-N`` only
when complete, so a run killed mid-write leaves a ``.tmp-*`` folder that is never loaded.
Non-tensor state is JSON and tensors are loaded with ``torch.load(weights_only=True)``: loading a
checkpoint never runs code.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from llmts.errors import LlmtsError, first_line
from llmts.tracking.files import share_tree, write_json

log = logging.getLogger(__name__)
STEP_DIR = re.compile(r"step-(\d+)")
STATE = "state.json"
SELECTED = "selected.json"  # the step a run evaluated and serves (train.select)
TRAINABLE_FILE = "trainable.safetensors"


def checkpoint_root(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def save_checkpoint(
    run_dir: Path, step: int, model: torch.nn.Module, optimizer, scheduler, history: list[dict]
) -> Path:
    """Write ``checkpoints/step-{step}`` atomically; returns its path."""
    root = checkpoint_root(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step}"
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".tmp-step-{step}-"))
    save_trainable(model, tmp)
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    rng = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    torch.save(rng, tmp / "rng.pt")
    # state.json last: its presence marks the folder complete even before the rename.
    write_json(tmp / STATE, {"step": step, "history": history})
    share_tree(tmp)  # mkdtemp's 0700 and safetensors' 0600 would hide it from colleagues
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def write_selected(run_dir: Path, step: int, how: str) -> None:
    """``checkpoints/selected.json``: the step whose weights the run evaluated (``how``: last or
    best_val), the one :func:`find_selected` returns."""
    write_json(checkpoint_root(run_dir) / SELECTED, {"step": step, "select": how})


def find_selected(run_dir: Path) -> Path | None:
    """The checkpoint a finished run evaluated (``selected.json``) when it is on disk, else the
    newest complete one (:func:`find_latest`)."""
    file = checkpoint_root(run_dir) / SELECTED
    if file.is_file():
        try:
            path = checkpoint_root(run_dir) / f"step-{int(json.loads(file.read_text())['step'])}"
        except (ValueError, KeyError, TypeError):
            raise LlmtsError(f"{file}: damaged (expected {{'step': N, ...}})") from None
        if (path / STATE).is_file():
            return path
    return find_latest(run_dir)


def find_latest(run_dir: Path) -> Path | None:
    """The newest complete ``step-N`` in the run dir; partial ``.tmp-*`` folders are reported."""
    root = checkpoint_root(run_dir)
    if not root.is_dir():
        return None
    for partial in sorted(root.glob(".tmp-*")):
        log.warning("ignoring incomplete checkpoint %s (interrupted write)", partial)
    done = []
    for p in root.iterdir():
        if m := STEP_DIR.fullmatch(p.name):
            if (p / STATE).is_file():
                done.append((int(m.group(1)), p))
            else:
                log.warning("ignoring incomplete checkpoint %s (no %s)", p, STATE)
    return max(done)[1] if done else None


def resolve(resume: str | None, run_dir: Path) -> Path | None:
    """``train.resume``: None → start fresh; ``auto`` → newest complete checkpoint here (fresh if
    none); a path → that checkpoint, which must exist."""
    if resume is None:
        return None
    if resume == "auto":
        latest = find_latest(run_dir)
        if latest is None:  # a new run dir (no hydra.run.dir) never holds one: say so
            log.info(
                "train.resume=auto found no checkpoint in %s: starting from step 0 "
                "(hydra.run.dir=RUN points it at the run to resume)",
                checkpoint_root(run_dir),
            )
        return latest
    path = Path(resume).expanduser()
    if not (path / STATE).is_file():
        raise LlmtsError(f"train.resume: {path} is not a complete checkpoint (no {STATE})")
    return path


def load_checkpoint(
    path: Path, model: torch.nn.Module, optimizer=None, scheduler=None
) -> tuple[int, list[dict]]:
    """Restore weights (and optimizer/scheduler/RNG when given); returns (step, history)."""
    state = _read_state(path)
    load_trainable(model, path)
    if optimizer is not None:
        for name, restore in (
            ("optimizer.pt", optimizer.load_state_dict),
            ("scheduler.pt", scheduler.load_state_dict),
            ("rng.pt", _set_rng),
        ):
            obj = _load_tensors(path / name)
            try:
                restore(obj)
            except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
                raise LlmtsError(
                    f"checkpoint {path / name}: does not match this run "
                    f"({type(exc).__name__}: {first_line(exc)})"
                ) from None
    return int(state["step"]), list(state["history"])


def _set_rng(rng: dict) -> None:
    torch.set_rng_state(rng["cpu"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])


def _read_state(path: Path) -> dict[str, Any]:
    try:
        state = json.loads((Path(path) / STATE).read_text())
        int(state["step"])
        if not isinstance(state["history"], list) or not all(
            isinstance(r, dict) for r in state["history"]
        ):
            raise ValueError("'history' must be a list of rows")
    except FileNotFoundError:
        raise LlmtsError(f"checkpoint {path}: not a checkpoint (no {STATE})") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise LlmtsError(f"checkpoint {path}: {STATE} is damaged ({exc})") from None
    return state


def _load_tensors(file: Path) -> Any:
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise LlmtsError(f"checkpoint {file.parent}: missing {file.name}") from None
    except Exception as exc:  # pickle/zip errors of a truncated or foreign file
        raise LlmtsError(f"checkpoint {file}: unreadable ({type(exc).__name__})") from None


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every trainable tensor by name: LoRA A/B, the lm_head bias, or all weights (full FT)."""
    return {
        n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad
    }


def save_trainable(model: nn.Module, folder: Path) -> None:
    """``trainable.safetensors`` (what llmts reloads) and, for LoRA, ``adapter/`` in peft's
    format."""
    from peft import PeftModel
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file(trainable_state(model), str(folder / TRAINABLE_FILE))
    if isinstance(model, PeftModel):
        model.save_pretrained(str(folder / "adapter"))


def load_trainable(model: nn.Module, folder: Path) -> None:
    """Load ``trainable.safetensors`` into ``model``; names and shapes must match exactly."""
    from safetensors.torch import load_file

    file = Path(folder) / TRAINABLE_FILE
    try:
        state = load_file(str(file))
    except FileNotFoundError:
        raise LlmtsError(f"checkpoint {folder}: no {TRAINABLE_FILE}") from None
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise LlmtsError(f"checkpoint {file}: unreadable ({type(exc).__name__}: {exc})") from None
    params = dict(model.named_parameters())
    expected = {n for n, p in params.items() if p.requires_grad}
    if set(state) != expected:
        missing, extra = sorted(expected - set(state))[:3], sorted(set(state) - expected)[:3]
        raise LlmtsError(
            f"checkpoint {file} does not match this model/lora config "
            f"(missing {missing}, unexpected {extra})"
        )
    with torch.no_grad():
        for name, tensor in state.items():
            if params[name].shape != tensor.shape:
                raise LlmtsError(
                    f"checkpoint {file}: {name} has shape {tuple(tensor.shape)}, "
                    f"model expects {tuple(params[name].shape)}"
                )
            params[name].copy_(tensor)
