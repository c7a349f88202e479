"""Constrained decoding: make every generated token follow the LLMTIME forecast format.

Each value is ``-?[0-9]{1,k}\\.[0-9]{p}`` (the sign only with ``allow_sign``; no ``.`` when p = 0),
a step is ``num_vars`` values joined by ``,`` and ended by ``;``, and after ``horizon`` steps only
EOS (or pad) may follow. :class:`NumericGrammar` enforces this as a per-row automaton advanced by
one token per call, fully vectorised over the batch (thousands of rows x hundreds of tokens), and
:class:`StepsDone` stops rows as soon as their ``horizon``-th ``;`` is out.

The prompt must end on a step boundary (as ``encode`` output does, with ``;``); ``prompt_len`` is
the padded prompt width, i.e. ``input_ids.shape[1]`` at the first call of ``generate``.
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor, PreTrainedTokenizerBase, StoppingCriteria

from llmts.errors import LlmtsError

GRAMMAR_CHARS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", ",", ".", ";", "-")
DIGITS = GRAMMAR_CHARS[:10]
# Token classes, for the automaton's transition table.
C_DIGIT, C_DOT, C_MINUS, C_COMMA, C_SEMI, C_OTHER = range(6)


def grammar_token_ids(tokenizer: PreTrainedTokenizerBase) -> dict[str, int]:
    """The single-token IDs of ``0-9 , . ; -``; :class:`LlmtsError` if any is not one token."""
    ids: dict[str, int] = {}
    for ch in GRAMMAR_CHARS:
        pieces = tokenizer.encode(ch, add_special_tokens=False)
        if len(pieces) != 1:
            raise LlmtsError(f"decoding: tokenizer splits {ch!r} into {len(pieces)} tokens "
                             "(constrained decoding needs one token per digit/separator)")
        ids[ch] = int(pieces[0])
    return ids


def max_new_tokens(num_vars: int, horizon: int, precision: int, max_int_digits: int = 3,
                   allow_sign: bool = False) -> int:
    """The most tokens a constrained forecast can take: the longest value, one separator after
    each value (``,`` or ``;``), ``horizon`` steps, plus 1 for the EOS."""
    value = int(allow_sign) + max_int_digits + (1 + precision if precision > 0 else 0)
    return horizon * num_vars * (value + 1) + 1


class NumericGrammar(LogitsProcessor):
    """Sets to -inf the score of every token the LLMTIME format forbids at each row's position.

    Per row it keeps three counters: the automaton state within the current value, the index of
    the value within the step, and the number of complete steps. They are advanced from the last
    token at each call (replaying any tokens not yet seen, so it also recovers if a call is
    skipped) and reset when ``input_ids.shape[1] == prompt_len``, i.e. at the first call of a new
    ``generate``. Allowed tokens keep their scores, so greedy and sampling (temperature/top-k/top-p
    run after custom processors in HF, and -inf stays -inf) both only ever pick grammar tokens.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, num_vars: int, precision: int,
                 horizon: int, prompt_len: int, max_int_digits: int = 3,
                 allow_sign: bool = False, row_int_digits: torch.Tensor | None = None) -> None:
        if num_vars < 1 or horizon < 1 or precision < 0 or max_int_digits < 1 or prompt_len < 0:
            raise ValueError("NumericGrammar: need num_vars, horizon, max_int_digits >= 1 and "
                             "precision, prompt_len >= 0")
        self.num_vars, self.horizon, self.prompt_len = num_vars, horizon, prompt_len
        ids = grammar_token_ids(tokenizer)
        ends = [t for t in (tokenizer.eos_token_id, tokenizer.pad_token_id) if t is not None]
        if not ends:
            raise LlmtsError("decoding: tokenizer has neither an EOS nor a pad token")
        # Columns of the scores the grammar can ever allow; everything else is always -inf, so
        # the per-step work is O(batch x 16) plus one fill, independent of what the vocab holds.
        self.columns = torch.tensor([ids[c] for c in GRAMMAR_CHARS] + ends, dtype=torch.long)
        self._build_tables(ids, ends, precision, max_int_digits, allow_sign)
        # Optional per-row cap on integer digits (<= max_int_digits), so each row's bound depends
        # on its own series, not on which other series share its batch.
        self.row_int_digits = row_int_digits
        self._state: torch.Tensor | None = None  # (B,) automaton state within a value
        self._var: torch.Tensor | None = None  # (B,) index of the current value in its step
        self._step: torch.Tensor | None = None  # (B,) complete steps so far
        self._seen = -1  # input length the counters correspond to

    def _build_tables(self, ids: dict[str, int], ends: list[int], precision: int, k: int,
                      allow_sign: bool) -> None:
        """Transition table ``trans[state, class]``, allowed-column table
        ``allowed[state, is_last_var, column]`` and the token->class lookup."""
        start, sign, first_int = 0, 1, 2  # INT_i (i digits read) is state first_int + i - 1
        first_frac = first_int + k  # FRAC_j (j decimals read after '.') is first_frac + j
        self.first_int, self.first_frac = first_int, first_frac
        done = first_frac + (precision + 1 if precision > 0 else 0)
        self.start, self.done = start, done
        n = done + 1
        trans = torch.full((n, 6), done, dtype=torch.long)  # anything unexpected ends the row
        col = {c: i for i, c in enumerate(GRAMMAR_CHARS)}
        allowed = torch.zeros((n, 2, len(self.columns)), dtype=torch.bool)
        digits = [col[d] for d in DIGITS]

        trans[start, C_DIGIT] = first_int
        allowed[start, :, digits] = True
        if allow_sign:
            trans[start, C_MINUS] = sign
            allowed[start, :, col["-"]] = True
        trans[sign, C_DIGIT] = first_int
        allowed[sign, :, digits] = True
        complete = []  # states where the value may end
        for i in range(1, k + 1):
            s = first_int + i - 1
            if i < k:  # at most k integer digits
                trans[s, C_DIGIT] = s + 1
                allowed[s, :, digits] = True
            if precision > 0:
                trans[s, C_DOT] = first_frac
                allowed[s, :, col["."]] = True
            else:
                complete.append(s)
        if precision > 0:
            for j in range(precision):  # exactly `precision` decimals
                trans[first_frac + j, C_DIGIT] = first_frac + j + 1
                allowed[first_frac + j, :, digits] = True
            complete.append(first_frac + precision)
        for s in complete:
            # ',' and ';' both restart a value; the counters (in _advance) decide which is legal
            # and when the horizon is reached.
            trans[s, C_COMMA] = start
            trans[s, C_SEMI] = start
            allowed[s, 0, col[","]] = True  # not the step's last value: ','
            allowed[s, 1, col[";"]] = True  # the last value: ';'
        allowed[done, :, len(GRAMMAR_CHARS):] = True  # EOS / pad only

        lookup = torch.full((max(list(ids.values()) + ends) + 2,), C_OTHER, dtype=torch.long)
        lookup[[ids[d] for d in DIGITS]] = C_DIGIT
        for ch, c in ((".", C_DOT), ("-", C_MINUS), (",", C_COMMA), (";", C_SEMI)):
            lookup[ids[ch]] = c
        self.trans, self.allowed, self.lookup = trans, allowed, lookup
        self.digit_columns = torch.zeros(len(self.columns), dtype=torch.bool)
        self.digit_columns[digits] = True

    def _to(self, device: torch.device) -> None:
        """Move the (small) tables to where the scores live, once."""
        if self.trans.device != device:
            self.trans, self.allowed = self.trans.to(device), self.allowed.to(device)
            self.lookup, self.columns = self.lookup.to(device), self.columns.to(device)
            self.digit_columns = self.digit_columns.to(device)
            if self.row_int_digits is not None:
                self.row_int_digits = self.row_int_digits.to(device)

    def _reset(self, batch: int, device: torch.device) -> None:
        self._state = torch.full((batch,), self.start, dtype=torch.long, device=device)
        self._var = torch.zeros(batch, dtype=torch.long, device=device)
        self._step = torch.zeros(batch, dtype=torch.long, device=device)
        self._seen = self.prompt_len

    def _advance(self, tokens: torch.Tensor) -> None:
        """Consume one token per row (vectorised)."""
        assert self._state is not None and self._var is not None and self._step is not None
        # Token IDs beyond the lookup (any non-grammar token) clamp onto its last entry: C_OTHER.
        cls = self.lookup[tokens.clamp(0, len(self.lookup) - 1)]
        state = self.trans[self._state, cls]
        comma, semi = cls == C_COMMA, cls == C_SEMI
        last = self._var == self.num_vars - 1
        # A ',' after the last value or a ';' before it breaks the format: end that row.
        bad = (comma & last) | (semi & ~last)
        self._var = torch.where(comma, self._var + 1, torch.where(semi, 0, self._var))
        self._step = self._step + semi.long()
        finished = bad | (self._step >= self.horizon)
        self._state = torch.where(finished, self.done, state)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        batch, cur = input_ids.shape
        if cur < self.prompt_len:
            raise ValueError(f"NumericGrammar: input has {cur} tokens, fewer than "
                             f"prompt_len={self.prompt_len}")
        self._to(scores.device)
        if (cur == self.prompt_len or self._state is None or cur < self._seen
                or self._state.shape[0] != batch or self._state.device != scores.device):
            self._reset(batch, scores.device)
        for pos in range(self._seen, cur):  # normally exactly one new token (none at the start)
            self._advance(input_ids[:, pos])
        self._seen = cur

        last = (self._var == self.num_vars - 1).long()
        ok = self.allowed[self._state, last]  # (B, C)
        if self.row_int_digits is not None:  # a row at its own cap: no further integer digit
            in_int = (self._state >= self.first_int) & (self._state < self.first_frac)
            full = in_int & (self._state - self.first_int + 1 >= self.row_int_digits)
            ok = ok & ~(full[:, None] & self.digit_columns)
        picked = scores[:, self.columns]
        # A new tensor, not in place: generate keeps the raw logits when output_logits=True.
        out = torch.full_like(scores, float("-inf"))
        out[:, self.columns] = picked.masked_fill(~ok, float("-inf"))
        return out


class StepsDone(StoppingCriteria):
    """True for each row that has produced at least ``horizon`` step separators after the prompt.

    Stateless (it recounts the generated part), so it cannot drift; the cost is
    O(batch x generated), negligible next to a forward pass.
    """

    def __init__(self, step_token_id: int, horizon: int, prompt_len: int) -> None:
        self.step_token_id, self.horizon, self.prompt_len = step_token_id, horizon, prompt_len

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor | None = None,
                 **kwargs: object) -> torch.BoolTensor:
        new = input_ids[:, self.prompt_len:]
        return (new == self.step_token_id).sum(dim=1) >= self.horizon
