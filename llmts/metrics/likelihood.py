"""Likelihood of the true continuation: LLMTIME's NLL/D, teacher-forced (no sampling), so it
ranks checkpoints with one forward pass per series.

For a series with context c and true continuation y (h steps × D variables, N observed values),
the continuation is encoded with the context's α (as a forecast would be read) and appended to
the context's text; one forward pass over the whole text gives, at each continuation token i,
the model's scores over the grammar's columns. q_i is their softmax over the columns the
grammar allows in that position's state (:meth:`Grammar.allowed_columns` after
:meth:`Grammar.advance` over the true tokens before it), read at the true token. A value's
text names a bin of width w_d = 10^-p · α_d in original units (p = ``data.precision``, α_d the
α of its variable), so its probability P becomes the density P / w_d (Gruver et al. 2023, §3):

    NLL/D = [ −Σ_i log q_i(token_i) + Σ_values log(10^-p · α_d) ]  /  N     [nats per value]

The sum over i takes every token of the observed values and every ``,``/``;`` after them (LLMTIME
counts separators; where the grammar allows only one, its q is 1). A missing truth value
(``NaN`` field) is not scored and not counted in N; the separator after it is. The grammar is the
forecast's, widened so that the truth is always inside it: each series' integer-digit cap is the
larger of its context's and its truth's, and a sign is allowed when either has negative values.
Lower is better; it can be negative (a density above 1 per unit).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from llmts.codec.codec import Codec
from llmts.codec.grammar import C_OTHER, Grammar
from llmts.config.schema import EvalConfig
from llmts.metrics import bootstrap as stats
from llmts.model.build import column_logits

MAX_SERIES_PER_FORWARD = 32  # series scored together (right-padded, one forward)


def nll_metrics(
    model, codec: Codec, context: np.ndarray, truth: np.ndarray, ev: EvalConfig
) -> dict:
    """``nll_per_dim`` (mean over series of each series' NLL/D, see the module docstring),
    its bootstrap ``_ci`` with ``eval.bootstrap``, and ``nll_series`` (series scored)."""
    per = series_nll(model, codec, context, truth, batch=min(ev.batch_size, MAX_SERIES_PER_FORWARD))
    ok = np.isfinite(per)
    out = {"nll_per_dim": float(per[ok].mean()) if ok.any() else None, "nll_series": int(ok.sum())}
    if ev.bootstrap and ok.any():
        w = stats.counts(
            stats.resample_indices(len(per), ev.bootstrap, ev.bootstrap_seed), len(per)
        )
        out["nll_per_dim_ci"] = stats.interval(stats.mean_draws(per, w)).tolist()
    return out


@torch.no_grad()
def series_nll(
    model,
    codec: Codec,
    context: np.ndarray,
    truth: np.ndarray,
    scales: np.ndarray | None = None,
    batch: int = 8,
) -> np.ndarray:
    """(n,) NLL/D of each series' truth (n, h, D) after its context (n, c, D), in nats per
    observed value, with each context's own scaling (``scales``: (n, D) α to use instead, no
    offset); NaN for a series with no observed truth or a truth the codec cannot write with the
    context's scaling (below an affine offset)."""
    n, _, d = truth.shape
    precision = codec.precision
    # Gaps are always readable here: a missing truth value is written as NaN and not scored.
    scoring = replace(codec, missing=True).for_series([context, truth])
    scaling = (
        [codec.scaling(c) for c in context]
        if scales is None
        else [(a, np.zeros(d)) for a in scales]
    )
    scales, offsets = (np.array([s[k] for s in scaling]) for k in (0, 1))
    texts, log_w, counts = [], np.zeros(n), np.zeros(n)
    for i in range(n):
        try:
            prompt = scoring.encode(context[i], scales[i], offsets[i])
            cont = scoring.encode(truth[i], scales[i], offsets[i])
            if scoring.scale == "affine" and (np.nan_to_num(truth[i] - offsets[i]) < 0).any():
                raise ValueError("below the offset")  # the grammar writes no sign
        except ValueError:
            prompt = cont = None
        observed = (~np.isnan(truth[i])).sum(0)  # (D,)
        texts.append((prompt, cont))
        counts[i] = observed.sum()
        log_w[i] = float(observed @ (np.log(scales[i]) - precision * math.log(10)))
    digits = np.maximum(
        codec.integer_digits(context, scales, offsets), codec.integer_digits(truth, scales, offsets)
    )
    grammar = scoring.grammar(d, truth.shape[1], int(digits.max()))
    neg_logq = np.full(n, np.nan)
    rows = [i for i in range(n) if texts[i][0] is not None and counts[i] > 0]
    for start in range(0, len(rows), batch):
        part = rows[start : start + batch]
        neg_logq[part] = _neg_log_q(
            model, codec.tokenizer, grammar, [texts[i] for i in part], torch.as_tensor(digits[part])
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        return (neg_logq + log_w) / counts


def _neg_log_q(
    model, tokenizer, grammar: Grammar, texts: list[tuple[str, str]], caps: torch.Tensor
) -> np.ndarray:
    """−Σ log q_i over each continuation's scored tokens (see the module docstring)."""
    device = next(model.parameters()).device
    prompts = tokenizer([p for p, _ in texts], add_special_tokens=False)["input_ids"]
    conts = tokenizer([c for _, c in texts], add_special_tokens=False)["input_ids"]
    rows = [p + c for p, c in zip(prompts, conts)]
    width, steps = max(map(len, rows)), max(map(len, conts))
    ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    tokens = torch.full((len(rows), steps), tokenizer.pad_token_id, dtype=torch.long)
    for r, (row, cont) in enumerate(zip(rows, conts)):
        ids[r, : len(row)], mask[r, : len(row)] = torch.tensor(row), 1
        tokens[r, : len(cont)] = torch.tensor(cont)
    # Scores of the position before each continuation token (right padding: causal attention
    # keeps every real position independent of the padding after it).
    at = torch.tensor([[len(p) - 1 + j for j in range(steps)] for p in prompts]).clamp(
        max=width - 1
    )
    scores = _column_scores(
        model, ids.to(device), mask.to(device), at.to(device), grammar.columns.to(device)
    ).cpu()
    g = grammar.to("cpu")
    col_of = torch.full((len(g.lookup),), -1, dtype=torch.long)
    col_of[g.columns] = torch.arange(len(g.columns))
    length = torch.tensor([len(c) for c in conts])
    state, total = g.init_state(len(rows), "cpu"), torch.zeros(len(rows), dtype=torch.float64)
    ready = (
        g.done - 1 if g.first_frac < g.done else g.first_frac - 1
    )  # a value complete, no more digits
    for j in range(steps):
        cls = g.classes(tokens[:, j])
        scored = (cls != C_OTHER) & (j < length)  # C_OTHER: a token of a missing field
        logq = F.log_softmax(
            scores[:, j].masked_fill(~g.allowed_columns(state, caps), float("-inf")), dim=-1
        )
        picked = logq.gather(1, col_of[tokens[:, j]].clamp(min=0)[:, None])[:, 0]
        total -= torch.where(scored, picked.double(), torch.zeros((), dtype=torch.float64))
        s, var, step = g.advance(state, cls)  # a missing field's tokens would end the row (DONE):
        state = (torch.where(cls == C_OTHER, ready, s), var, step)  # its value is complete instead
    return total.numpy()


def _column_scores(
    model, ids: torch.Tensor, mask: torch.Tensor, at: torch.Tensor, columns: torch.Tensor
) -> torch.Tensor:
    """Float32 logits (B, K, C) of the grammar's ``columns`` at positions ``at`` (B, K): the
    decoder's hidden states through the output head's rows for those columns only (the full
    vocabulary's logits are never formed), in the model's dtype without autocast."""
    model.eval()
    with torch.autocast(ids.device.type, enabled=False):
        hidden = model.get_decoder()(
            input_ids=ids, attention_mask=mask, use_cache=False
        ).last_hidden_state
        hidden = hidden.gather(1, at[..., None].expand(-1, -1, hidden.shape[-1]))
        return column_logits(model.get_output_embeddings(), hidden, columns).float()
