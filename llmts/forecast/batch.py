"""Forecasting: every (series × sample) decodes together in batches, constrained by the codec's
grammar, with llmts's own fixed-shape decode loop (:mod:`llmts.forecast.engine`, ``decoding.engine=llmts``)
or Hugging Face ``generate`` (``engine=hf``, and always for ``constrained=false``).

Each context is scaled by its own α (percentile of |context| over its observed values, one α or
one per variable as ``data.scale`` says): the future being forecast is never looked at. Contexts
may hold gaps (NaN) under ``data.missing=encode``; forecasts never do. Decoded text → original
units via :func:`llmts.codec.llmtime.decode_forecast`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from llmts.config.schema import DataConfig, DecodingConfig
from llmts.codec.grammar import Grammar, NumericGrammar, StepsDone, grammar_token_ids, max_new_tokens
from llmts.codec.llmtime import decode_forecast, encode, last_observed, scales_of
from llmts.tracking.progress import Progress

log = logging.getLogger(__name__)


@dataclass
class ForecastResult:
    samples: np.ndarray  # (n, s, h, D) original units; s = 1 for greedy
    parsed_steps: int  # steps read from model text, before filling
    malformed_steps: int
    texts: list[str]  # generated text, row = series * s + sample
    scales: np.ndarray | None = None  # (n, D) the α each series was encoded with

    @property
    def total_steps(self) -> int:
        n, s, h, _ = self.samples.shape
        return n * s * h

    @property
    def parse_rate(self) -> float:
        return self.parsed_steps / max(self.total_steps, 1)

    @property
    def filled_steps(self) -> int:
        return self.total_steps - self.parsed_steps


def num_samples(cfg: DecodingConfig) -> int:
    return cfg.num_samples if cfg.do_sample else 1


@torch.no_grad()
def forecast(model, tokenizer, contexts: np.ndarray | Sequence[np.ndarray], horizon: int,
             dec: DecodingConfig, data: DataConfig, batch_size: int, seed: int,
             decoders: dict | None = None) -> ForecastResult:
    """Forecast ``horizon`` steps after each context: (n, c, D), or a list of (c_i, D) of
    different lengths (one batch: prompts are left-padded anyway); returns all samples.

    Runs in the model's own dtype whatever autocast the caller holds (one KV-cache dtype).
    ``batch_size`` counts rows (series × samples). Batch b's draws depend on (seed, b) only.
    ``decoders``: a dict the caller keeps between calls to reuse llmts's decode loops (their
    static KV caches and CUDA graphs, captured once) instead of building one per call."""
    contexts = [np.asarray(c, dtype=np.float64) for c in contexts]
    n, d, s = len(contexts), contexts[0].shape[1], num_samples(dec)
    sep, missing = data.digit_separator, data.missing == "encode"
    scales = np.array([scales_of(c, data.percentile, data.scale == "per_variable")
                       for c in contexts])
    prompts = [encode(c, a, data.precision, missing, sep) for c, a in zip(contexts, scales)]
    signed = any(bool((c < 0).any()) for c in contexts)  # NaN < 0 is False
    # Each row's integer-digit cap comes from its own series (or decoding.max_int_digits).
    digits = (np.full(n, dec.max_int_digits) if dec.max_int_digits
              else integer_digits(contexts, scales))
    device = next(model.parameters()).device
    model.eval()
    with torch.autocast(device.type, enabled=False):
        if dec.constrained and dec.engine == "llmts":
            texts = engine_texts(model, tokenizer, prompts, horizon, d, dec, data.precision,
                                 signed, digits, batch_size, seed, sep, decoders)
        else:
            texts = hf_texts(model, tokenizer, prompts, horizon, d, dec, data.precision, signed,
                             np.repeat(digits, s), batch_size, seed, sep)
    out = np.empty((n, s, horizon, d))
    parsed = malformed = 0
    for row, text in enumerate(texts):
        i, j = divmod(row, s)
        fc = decode_forecast(text, d, horizon, scales[i], last_observed(contexts[i]), sep)
        out[i, j] = fc.values
        parsed += fc.parsed
        malformed += fc.malformed
    return ForecastResult(out, parsed, malformed, texts, scales)


def engine_texts(model, tokenizer, prompts: list[str], horizon: int, num_vars: int,
                 dec: DecodingConfig, precision: int, signed: bool, digits: np.ndarray,
                 batch_size: int, seed: int, separator: str = "",
                 decoders: dict | None = None) -> list[str]:
    """llmts's decode loop (:mod:`llmts.forecast.engine`): batches of whole series, each prefilled once
    and shared by its samples; on CUDA the step is captured once per decoder and batch shape
    (``decoding.cuda_graphs``). The decoder is taken from (or put in) ``decoders``."""
    from llmts.forecast.engine import Decoder

    s, top = num_samples(dec), int(digits.max())
    sampling = (dict(temperature=dec.temperature, top_k=dec.top_k, top_p=dec.top_p)
                if dec.do_sample else None)
    # Everything the grammar and the decode loop are built from; a kept decoder is reused
    # only for the very model and tokenizer it was built with. One is kept at a time: each
    # holds a KV cache (and a CUDA graph's memory), which varied calls would pile up.
    key = (num_vars, precision, horizon, top, signed, separator,
           tuple(sorted((sampling or {}).items())), dec.cuda_graphs)
    decoders = {} if decoders is None else decoders
    built = decoders.get(key)
    if built is None or built[0] is not model or built[1] is not tokenizer:
        decoders.clear()
        grammar = Grammar.build(tokenizer, num_vars, precision, horizon, top, signed, separator)
        built = decoders[key] = (model, tokenizer, Decoder(
            model, grammar, max_new_tokens(num_vars, horizon, precision, top, signed),
            tokenizer.pad_token_id, sampling, cuda_graph=dec.cuda_graphs))
    decoder = built[2]
    ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    per_batch = max(1, batch_size // s)
    texts: list[str] = []
    bar = Progress("forecast", len(ids) * s, "rows")
    for b, start in enumerate(range(0, len(ids), per_batch)):
        caps = torch.as_tensor(np.repeat(digits[start:start + per_batch], s))
        tokens = decoder.decode(ids[start:start + per_batch], s, caps, seed + b, rows=per_batch)
        texts.extend(tokenizer.batch_decode(tokens.cpu(), skip_special_tokens=True))
        bar.update(len(tokens))
    bar.close()
    return texts


def hf_texts(model, tokenizer, prompts: list[str], horizon: int, num_vars: int,
             dec: DecodingConfig, precision: int, signed: bool, digits: np.ndarray,
             batch_size: int, seed: int, separator: str = "") -> list[str]:
    """Hugging Face ``generate`` (``decoding.engine=hf``, and every unconstrained decoding)."""
    rows = [p for p in prompts for _ in range(num_samples(dec))]
    device = next(model.parameters()).device
    texts: list[str] = []
    bar = Progress("forecast", len(rows), "rows")
    for b, start in enumerate(range(0, len(rows), batch_size)):
        # generate draws from the global RNG: seed it, and restore it afterwards
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed + b)
            texts.extend(generate_batch(model, tokenizer, rows[start:start + batch_size],
                                        horizon, num_vars, dec, precision, signed,
                                        digits[start:start + batch_size], separator))
        bar.update(len(rows[start:start + batch_size]))
    bar.close()
    return texts


def integer_digits(contexts: Sequence[np.ndarray], scales: np.ndarray) -> np.ndarray:
    """Per series: integer digits of its largest scaled context value (≥ 1; gaps ignored). With
    α the 95th percentile of |context| that is one digit for most series, so a forecast can reach
    10× its context's typical size but never the 1e3-1e5 that an unconstrained integer part
    allows. ``scales``: (n,) or (n, D)."""
    scales = np.asarray(scales, dtype=np.float64).reshape(len(contexts), -1)
    top = [np.nanmax(np.abs(c) / a, initial=0.0) for c, a in zip(contexts, scales)]
    return np.array([max(1, len(str(int(t)))) for t in top])


def generate_batch(model, tokenizer, prompts: list[str], horizon: int, num_vars: int,
                   dec: DecodingConfig, precision: int, signed: bool,
                   int_digits: np.ndarray, separator: str = "") -> list[str]:
    """One left-padded ``generate`` call; returns the text generated after each prompt."""
    from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

    device = next(model.parameters()).device
    enc = tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left",
                    add_special_tokens=False).to(device)
    prompt_len = enc["input_ids"].shape[1]
    processors = LogitsProcessorList()
    if dec.constrained:
        processors.append(NumericGrammar(tokenizer, num_vars, precision, horizon, prompt_len,
                                         int(int_digits.max()), allow_sign=signed,
                                         row_int_digits=torch.as_tensor(int_digits),
                                         separator=separator))
    step_id = grammar_token_ids(tokenizer, separator)[";"]
    sampling = (dict(do_sample=True, temperature=dec.temperature, top_k=dec.top_k or None,
                     top_p=dec.top_p) if dec.do_sample else dict(do_sample=False))
    gen = GenerationConfig(
        **sampling, repetition_penalty=1.0, num_beams=1,
        max_new_tokens=max_new_tokens(num_vars, horizon, precision, int(int_digits.max()), signed),
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        # On CUDA a static cache makes transformers torch.compile the forward, again for each
        # new batch shape; unmeasured here, so llmts keeps generation eager.
        cache_implementation=str(dec.cache_implementation), disable_compile=True,
    )
    out = model.generate(**enc, generation_config=gen, logits_processor=processors,
                         stopping_criteria=StoppingCriteriaList([StepsDone(step_id, horizon, prompt_len)]))
    return tokenizer.batch_decode(out[:, prompt_len:], skip_special_tokens=True)
