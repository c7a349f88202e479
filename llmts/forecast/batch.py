"""Forecasting: every (series × sample) decodes together in batches, constrained by the codec's
grammar, with llmts's own fixed-shape decode loop (:mod:`llmts.forecast.engine`,
``decoding.engine=llmts``)
or Hugging Face ``generate`` (``engine=hf``, and always for ``constrained=false``).

Each context is scaled by its own α (percentile of |context| over its observed values, one α or
one per variable as the codec says): the future being forecast is never looked at. Contexts may
hold gaps (NaN) when the codec writes them; forecasts never do. Decoded text → original units
via :meth:`llmts.codec.codec.Codec.decode_forecast`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from llmts.codec.codec import Codec
from llmts.codec.llmtime import last_observed
from llmts.config.schema import DecodingConfig
from llmts.forecast.engine import Decoder, unsupported
from llmts.forecast.hf import hf_texts
from llmts.forecast.prompts import Prompts, num_samples
from llmts.model.build import base_model
from llmts.tracking.progress import Progress

log = logging.getLogger(__name__)


@dataclass
class ForecastResult:
    samples: np.ndarray  # (n, s, h, D) original units; s = 1 for greedy
    parsed_steps: int  # steps read from model text, before filling
    malformed_steps: int
    texts: list[str]  # generated text, row = series * s + sample
    scales: np.ndarray | None = None  # (n, D) the α each series was encoded with
    offsets: np.ndarray | None = None  # (n, D) its offset (0 unless data.scale=affine)

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


@torch.no_grad()
def forecast(
    model,
    codec: Codec,
    contexts: np.ndarray | Sequence[np.ndarray],
    horizon: int,
    dec: DecodingConfig,
    *,
    batch_size: int = 256,
    seed: int = 0,
    decoders: dict | None = None,
) -> ForecastResult:
    """Forecast ``horizon`` steps after each context: (n, c, D), or a list of (c_i, D) of
    different lengths (one batch: prompts are left-padded anyway); returns all samples.

    Runs in the model's own dtype whatever autocast the caller holds (one KV-cache dtype).
    ``batch_size`` counts rows (series × samples). With ``engine=llmts`` a series' draws
    depend on (seed, its index) only, not on ``batch_size``; with ``hf``, on (seed, batch).
    ``decoders``: a dict the caller keeps between calls to reuse llmts's decode loops (their
    static KV caches and CUDA graphs, captured once) instead of building one per call.
    :class:`LlmtsError` for a negative context the codec has no sign for."""
    contexts = [np.asarray(c, dtype=np.float64) for c in contexts]
    codec.check_writable(contexts, "forecast")
    n, d, s = len(contexts), contexts[0].shape[1], num_samples(dec)
    scaling = [codec.scaling(c) for c in contexts]
    scales, offsets = (np.array([s[k] for s in scaling]) for k in (0, 1))
    # Each row's integer-digit cap comes from its own series (or decoding.max_int_digits).
    digits = (
        np.full(n, dec.max_int_digits)
        if dec.max_int_digits
        else codec.integer_digits(contexts, scales, offsets)
    )
    prompts = Prompts(
        [codec.encode(c, a, o) for c, a, o in zip(contexts, scales, offsets)], digits, d, horizon
    )
    device = next(model.parameters()).device
    model.eval()
    with torch.autocast(device.type, enabled=False):
        if dec.constrained and dec.engine == "llmts" and not _plain_only(model):
            texts = engine_texts(model, codec, prompts, dec, batch_size, seed, decoders)
        else:
            texts = hf_texts(model, codec, prompts, dec, batch_size, seed)
    out = np.empty((n, s, horizon, d))
    parsed = malformed = 0
    for row, text in enumerate(texts):
        i, j = divmod(row, s)
        fc = codec.decode_forecast(
            text, d, horizon, scales[i], last_observed(contexts[i]), offsets[i]
        )
        out[i, j] = fc.values
        parsed += fc.parsed
        malformed += fc.malformed
    return ForecastResult(out, parsed, malformed, texts, scales, offsets)


def _plain_only(model) -> bool:
    """True where llmts's decode loop cannot run this model (its capabilities, found at load):
    its forecasts then come from Hugging Face ``generate``, said once per model in the log."""
    reason = unsupported(model)
    net = base_model(model)
    if reason and not getattr(net, "llmts_told_plain", False):
        log.info("decoding: engine=hf for this model (%s)", reason)
        net.llmts_told_plain = True
    return reason is not None


def engine_texts(
    model,
    codec: Codec,
    prompts: Prompts,
    dec: DecodingConfig,
    batch_size: int,
    seed: int,
    decoders: dict | None = None,
) -> list[str]:
    """llmts's decode loop (:mod:`llmts.forecast.engine`): batches of whole series, each
    prefilled once and shared by its samples; on CUDA the step is captured once per decoder and
    batch shape (``decoding.cuda_graphs``). The decoder is taken from (or put in) ``decoders``."""
    s, top = num_samples(dec), int(prompts.digits.max())
    sampling = (
        dict(temperature=dec.temperature, top_k=dec.top_k, top_p=dec.top_p)
        if dec.do_sample
        else None
    )
    # Everything the grammar and the decode loop are built from; a kept decoder is reused
    # only for the very model and codec it was built with. One is kept at a time: each holds
    # a KV cache (and a CUDA graph's memory), which varied calls would pile up.
    key = (
        prompts.num_vars,
        prompts.horizon,
        top,
        tuple(sorted((sampling or {}).items())),
        dec.cuda_graphs,
    )
    decoders = {} if decoders is None else decoders
    built = decoders.get(key)
    if built is None or built[0] is not model or built[1] is not codec:
        decoders.clear()
        grammar = codec.grammar(prompts.num_vars, prompts.horizon, top)
        built = decoders[key] = (
            model,
            codec,
            Decoder(
                model,
                grammar,
                codec.max_new_tokens(prompts.num_vars, prompts.horizon, top),
                codec.tokenizer.pad_token_id,
                sampling=sampling,
                cuda_graph=dec.cuda_graphs,
            ),
        )
    decoder = built[2]
    ids = codec.tokenizer(prompts.texts, add_special_tokens=False)["input_ids"]
    per_batch = max(1, batch_size // s)
    texts: list[str] = []
    bar = Progress("forecast", len(ids) * s, "rows")
    for start in range(0, len(ids), per_batch):
        caps = torch.as_tensor(np.repeat(prompts.digits[start : start + per_batch], s))
        batch = ids[start : start + per_batch]
        tokens = decoder.decode(batch, s, caps, seed, rows=per_batch, first=start)
        texts.extend(codec.tokenizer.batch_decode(tokens.cpu(), skip_special_tokens=True))
        bar.update(len(tokens))
    bar.close()
    return texts
