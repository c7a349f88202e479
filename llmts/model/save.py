"""A trained model as a Hugging Face folder that ``AutoModelForCausalLM.from_pretrained`` loads."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch

CARD = "README.md"


def write_folder(out: Path, model: torch.nn.Module, tokenizer, card: str) -> None:
    """``save_pretrained`` of the model (safetensors) and the tokenizer, and the card, into a
    temporary folder renamed to ``out`` when complete (an interrupted write leaves no folder
    that looks loadable)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".tmp-{out.name}-"))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / CARD).write_text(card)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
