"""Hugging Face ``generate`` with the codec's grammar (``decoding.engine=hf``, and every
unconstrained decoding): :class:`NumericGrammar` as a logits processor, :class:`StepsDone` as a
stopping criterion."""

from __future__ import annotations

import numpy as np
import torch
from transformers import LogitsProcessor, StoppingCriteria

from llmts.codec.codec import Codec
from llmts.codec.grammar import Grammar, State
from llmts.config.schema import DecodingConfig
from llmts.forecast.prompts import Prompts, num_samples
from llmts.tracking.progress import Progress


class NumericGrammar(LogitsProcessor):
    """:class:`Grammar` as a Hugging Face logits processor: every token the format forbids at a
    row's position gets score -inf (allowed tokens keep theirs, so greedy and sampling, whose
    temperature/top-k/top-p run after custom processors, only ever pick grammar tokens).

    The row states are advanced from the last token at each call (replaying any tokens not yet
    seen, so it also recovers if a call is skipped) and reset when ``input_ids.shape[1] ==
    prompt_len``, i.e. at the first call of a new ``generate``.
    """

    def __init__(
        self, grammar: Grammar, prompt_len: int, row_int_digits: torch.Tensor | None = None
    ) -> None:
        if prompt_len < 0:
            raise ValueError("NumericGrammar: prompt_len must be >= 0")
        self.grammar = grammar
        self.prompt_len = prompt_len
        self.row_int_digits = row_int_digits  # per-row cap on integer digits (<= the grammar's)
        self._state: State | None = None
        self._seen = -1  # input length the state corresponds to

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        batch, cur = input_ids.shape
        if cur < self.prompt_len:
            raise ValueError(
                f"NumericGrammar: input has {cur} tokens, fewer than prompt_len={self.prompt_len}"
            )
        g = self.grammar
        if g.trans.device != scores.device:  # move the (small) tables once
            self.grammar = g = g.to(scores.device)
            if self.row_int_digits is not None:
                self.row_int_digits = self.row_int_digits.to(scores.device)
        if (
            cur == self.prompt_len
            or self._state is None
            or cur < self._seen
            or self._state[0].shape[0] != batch
            or self._state[0].device != scores.device
        ):
            self._state, self._seen = g.init_state(batch, scores.device), self.prompt_len
        for pos in range(self._seen, cur):  # normally exactly one new token (none at the start)
            self._state = g.advance(self._state, g.classes(input_ids[:, pos]))
        self._seen = cur
        ok = g.allowed_columns(self._state, self.row_int_digits)
        # A new tensor, not in place: generate keeps the raw logits when output_logits=True.
        out = torch.full_like(scores, float("-inf"))
        out[:, g.columns] = scores[:, g.columns].masked_fill(~ok, float("-inf"))
        return out


class StepsDone(StoppingCriteria):
    """True for each row that has produced at least ``horizon`` step separators after the prompt.

    Stateless (it recounts the generated part), so it cannot drift; the cost is
    O(batch x generated), negligible next to a forward pass.
    """

    def __init__(self, step_token_id: int, horizon: int, prompt_len: int) -> None:
        self.step_token_id, self.horizon, self.prompt_len = step_token_id, horizon, prompt_len

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor | None = None, **kwargs: object
    ) -> torch.BoolTensor:
        new = input_ids[:, self.prompt_len :]
        return (new == self.step_token_id).sum(dim=1) >= self.horizon


def hf_texts(
    model, codec: Codec, prompts: Prompts, dec: DecodingConfig, batch_size: int, seed: int
) -> list[str]:
    """Hugging Face ``generate`` over batches of ``batch_size`` rows (series × samples)."""

    s = num_samples(dec)
    rows = Prompts(
        [p for p in prompts.texts for _ in range(s)],
        np.repeat(prompts.digits, s),
        prompts.num_vars,
        prompts.horizon,
    )
    device = next(model.parameters()).device
    texts: list[str] = []
    bar = Progress("forecast", len(rows.texts), "rows")
    for b, start in enumerate(range(0, len(rows.texts), batch_size)):
        part = Prompts(
            rows.texts[start : start + batch_size],
            rows.digits[start : start + batch_size],
            rows.num_vars,
            rows.horizon,
        )
        # generate draws from the global RNG: seed it, and restore it afterwards
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed + b)
            texts.extend(generate_batch(model, codec, part, dec))
        bar.update(len(part.texts))
    bar.close()
    return texts


def generate_batch(model, codec: Codec, prompts: Prompts, dec: DecodingConfig) -> list[str]:
    """One left-padded ``generate`` call; returns the text generated after each prompt."""
    from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

    device = next(model.parameters()).device
    tok = codec.tokenizer
    enc = tok(
        prompts.texts,
        return_tensors="pt",
        padding=True,
        padding_side="left",
        add_special_tokens=False,
    ).to(device)
    prompt_len = enc["input_ids"].shape[1]
    top = int(prompts.digits.max())
    processors = LogitsProcessorList()
    if dec.constrained:
        processors.append(
            NumericGrammar(
                codec.grammar(prompts.num_vars, prompts.horizon, top),
                prompt_len,
                torch.as_tensor(prompts.digits),
            )
        )
    sampling = (
        dict(do_sample=True, temperature=dec.temperature, top_k=dec.top_k or None, top_p=dec.top_p)
        if dec.do_sample
        else dict(do_sample=False)
    )
    gen = GenerationConfig(
        **sampling,
        repetition_penalty=1.0,
        num_beams=1,
        max_new_tokens=codec.max_new_tokens(prompts.num_vars, prompts.horizon, top),
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        # On CUDA a static cache makes transformers torch.compile the forward, again for each
        # new batch shape; unmeasured here, so llmts keeps generation eager.
        cache_implementation=str(dec.cache_implementation),
        disable_compile=True,
    )
    done = StepsDone(codec.step_token_id, prompts.horizon, prompt_len)
    out = model.generate(
        **enc,
        generation_config=gen,
        logits_processor=processors,
        stopping_criteria=StoppingCriteriaList([done]),
    )
    return tok.batch_decode(out[:, prompt_len:], skip_special_tokens=True)
