"""The model card (``README.md``) of a pretrained folder: the template ``card.md`` beside this
module, filled with the model's architecture, the corpus recipe and the facts of its training."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

TEMPLATE = Path(__file__).with_name("card.md")


def loss_text(loss: float | None) -> str:
    """A loss in nats per token as the card and the last line print it."""
    return "n/a" if loss is None else f"{loss:.4f}"


def curve_text(curve: list[tuple[int, float]], points: int = 9) -> str:
    """The training's validation losses (nats per token) at up to ``points`` evenly spaced
    evaluations, the first and the last among them: where a remake parts from this make."""
    if not curve:
        return "n/a"
    picks = sorted({round(i * (len(curve) - 1) / max(points - 1, 1)) for i in range(points)})
    return ", ".join(f"{curve[i][0]}: {curve[i][1]:.4f}" for i in picks)


def model_card(cfg: Any, facts: dict, recipe: str) -> str:
    """The folder's README.md for pretraining config ``cfg`` (model, corpus, data, train,
    optimizer, seed), the ``facts`` of its training (parameters, steps, tokens, FLOPs, wall
    time, machine, losses) and the corpus ``recipe`` (reStructuredText, shown as Markdown)."""
    m, c, d, t, o = cfg.model, cfg.corpus, cfg.data, cfg.train, cfg.optimizer
    settings = OmegaConf.to_yaml(
        OmegaConf.masked_copy(
            OmegaConf.create(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)),
            ["model", "data", "optimizer", "train", "corpus", "seed"],
        )
    )
    return TEMPLATE.read_text().format(
        name=m.name,
        layers=m.num_hidden_layers,
        hidden=m.hidden_size,
        mlp=m.intermediate_size,
        heads=m.num_attention_heads,
        kv_heads=m.num_key_value_heads,
        vocab=m.vocab_size,
        percentile=d.percentile,
        precision=d.precision,
        num_series=c.num_series,
        val_series=c.val_series,
        num_steps=c.num_steps,
        min_period=c.min_period,
        max_period=c.max_period,
        weights=", ".join(f"{k} {w:g}" for k, w in c.families.items()),
        context_length=d.context_length,
        recipe=re.sub(r":\w+:`~?([\w.]+)`", r"`\1`", recipe).replace("``", "`"),  # rST → MD
        batch_size=t.batch_size,
        grad_accum=t.grad_accum,
        lr=o.lr,
        schedule=o.schedule,
        warmup_steps=o.warmup_steps,
        weight_decay=o.weight_decay,
        wall_min=facts["wall_s"] / 60,
        val_batches=f"train.val_batches={t.val_batches}" if t.val_batches else "all windows",
        parameters=facts["parameters"],
        train_windows=facts["train_windows"],
        steps=facts["steps"],
        tokens=facts["tokens"],
        train_flops=facts["train_flops"],
        machine=facts["machine"],
        seed=facts["seed"],
        final_train_loss=facts["final_train_loss"],
        final_val_loss=loss_text(facts["final_val_loss"]),
        whole_val_loss=loss_text(facts["whole_val_loss"]),
        val_windows=facts["val_windows"],
        val_curve=curve_text(facts["val_curve"]),
        settings=settings.rstrip(),
    )
