"""Constrained decoding: make every generated token follow the LLMTIME forecast format.

Each value is ``-?[0-9]{1,k}\\.[0-9]{p}`` (the sign only with ``allow_sign``; no ``.`` when p = 0),
a step is ``num_vars`` values joined by ``,`` and ended by ``;``, and after ``horizon`` steps only
EOS (or pad) may follow. :class:`Grammar` holds that automaton as small on-device tables over the
codec's ~16 token *columns* (never the whole vocabulary) and advances a per-row state with pure
tensor ops (no Python per row, no host sync), so both decoders share it: llmts's own decode loop
(:mod:`llmts.forecast.engine`) and Hugging Face ``generate``
(:class:`llmts.forecast.hf.NumericGrammar`), and so does the likelihood of a true continuation.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from transformers import PreTrainedTokenizerBase

from llmts.codec.llmtime import step_tokens
from llmts.errors import LlmtsError

GRAMMAR_CHARS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", ",", ".", ";", "-")
DIGITS = GRAMMAR_CHARS[:10]
# Token classes, for the automaton's transition table.
C_DIGIT, C_DOT, C_MINUS, C_COMMA, C_SEMI, C_OTHER = range(6)
CLASS_OF = {**dict.fromkeys(DIGITS, C_DIGIT), ".": C_DOT, "-": C_MINUS, ",": C_COMMA, ";": C_SEMI}
State = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (state in value, value index, steps)


def grammar_token_ids(tokenizer: PreTrainedTokenizerBase, separator: str = "") -> dict[str, int]:
    """The single-token IDs of ``0-9 , . ; -`` (each written after ``separator``, as the codec
    writes them); :class:`LlmtsError` if any is not one token."""
    ids: dict[str, int] = {}
    for ch in GRAMMAR_CHARS:
        pieces = tokenizer.encode(separator + ch, add_special_tokens=False)
        if len(pieces) != 1:
            raise LlmtsError(
                f"decoding: tokenizer splits {separator + ch!r} into {len(pieces)} "
                "tokens (constrained decoding needs one token per digit/separator)"
            )
        ids[ch] = int(pieces[0])
    return ids


def max_new_tokens(
    num_vars: int, horizon: int, precision: int, max_int_digits: int = 3, allow_sign: bool = False
) -> int:
    """The most tokens a constrained forecast can take: ``horizon`` steps of the longest values,
    plus 1 for the EOS."""
    return horizon * step_tokens(num_vars, precision, max_int_digits, allow_sign) + 1


@dataclass(frozen=True)
class Grammar:
    """The format automaton. States within a value: START, SIGN, INT_1..INT_k (i integer digits
    read), FRAC_0..FRAC_p (j decimals read after '.'), DONE (horizon reached, or a broken row).
    Per row the state is (``state``, ``var``: the value's index in its step, ``step``: complete
    steps); ``allowed[state, var is last]`` says which columns may come next."""

    columns: torch.Tensor  # (C,) token IDs the grammar can ever allow, ascending (so an argmax
    # over columns breaks ties exactly as an argmax over the whole vocabulary does)
    col_class: torch.Tensor  # (C,) token class of each column
    trans: torch.Tensor  # (S, 6) next state by (state, class)
    allowed: torch.Tensor  # (S, 2, C) bool
    digit_columns: torch.Tensor  # (C,) bool
    lookup: torch.Tensor  # token ID -> class (IDs past its end are C_OTHER)
    num_vars: int
    horizon: int
    first_int: int
    first_frac: int
    done: int

    @classmethod
    def build(
        cls,
        tokenizer: PreTrainedTokenizerBase,
        num_vars: int,
        precision: int,
        horizon: int,
        max_int_digits: int = 3,
        allow_sign: bool = False,
        separator: str = "",
    ) -> Grammar:
        if num_vars < 1 or horizon < 1 or precision < 0 or max_int_digits < 1:
            raise ValueError(
                "Grammar: need num_vars, horizon, max_int_digits >= 1 and precision >= 0"
            )
        ids = grammar_token_ids(tokenizer, separator)
        ends = [
            t
            for t in dict.fromkeys((tokenizer.eos_token_id, tokenizer.pad_token_id))
            if t is not None
        ]
        if not ends:
            raise LlmtsError("decoding: tokenizer has neither an EOS nor a pad token")
        token_of = {**ids, **{f"<end{i}>": t for i, t in enumerate(ends)}}
        names = sorted(token_of, key=token_of.get)  # column order = ascending token ID
        col = {name: i for i, name in enumerate(names)}
        k, start, sign, first_int = max_int_digits, 0, 1, 2  # INT_i is state first_int + i - 1
        first_frac = first_int + k  # FRAC_j is first_frac + j
        done = first_frac + (precision + 1 if precision > 0 else 0)
        trans = torch.full((done + 1, 6), done, dtype=torch.long)  # anything unexpected: DONE
        allowed = torch.zeros((done + 1, 2, len(names)), dtype=torch.bool)
        digits = [col[d] for d in DIGITS]
        trans[start, C_DIGIT] = trans[sign, C_DIGIT] = first_int
        allowed[start, :, digits] = allowed[sign, :, digits] = True
        if allow_sign:
            trans[start, C_MINUS] = sign
            allowed[start, :, col["-"]] = True
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
            # ',' and ';' both restart a value; `advance` decides which is legal and when the
            # horizon is reached.
            trans[s, C_COMMA] = trans[s, C_SEMI] = start
            allowed[s, 0, col[","]] = True  # not the step's last value: ','
            allowed[s, 1, col[";"]] = True  # the last value: ';'
        allowed[done, :, [col[n] for n in names if n.startswith("<end")]] = True  # EOS / pad
        col_class = torch.tensor([CLASS_OF.get(n, C_OTHER) for n in names])
        lookup = torch.full((max(token_of.values()) + 2,), C_OTHER, dtype=torch.long)
        lookup[[token_of[n] for n in names]] = col_class
        return cls(
            torch.tensor([token_of[n] for n in names]),
            col_class,
            trans,
            allowed,
            torch.isin(torch.arange(len(names)), torch.tensor(digits)),
            lookup,
            num_vars,
            horizon,
            first_int,
            first_frac,
            done,
        )

    def to(self, device: torch.device | str) -> Grammar:
        """The same grammar with its tables on ``device``."""
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        return Grammar(**{k: v.to(device) if torch.is_tensor(v) else v for k, v in moved.items()})

    def init_state(self, batch: int, device: torch.device | str) -> State:
        zeros = torch.zeros(batch, dtype=torch.long, device=device)
        return zeros, zeros.clone(), zeros.clone()  # START = 0

    def classes(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token IDs → classes (non-grammar IDs clamp onto the lookup's last entry: C_OTHER)."""
        return self.lookup[tokens.clamp(0, len(self.lookup) - 1)]

    def advance(self, state: State, cls: torch.Tensor) -> State:
        """Consume one token (given by its class) per row."""
        s, var, step = state
        comma, semi = cls == C_COMMA, cls == C_SEMI
        last = var == self.num_vars - 1
        # A ',' after the last value or a ';' before it breaks the format: end that row.
        bad = (comma & last) | (semi & ~last)
        var = torch.where(comma, var + 1, torch.where(semi, 0, var))
        step = step + semi.long()
        finished = bad | (step >= self.horizon)
        return torch.where(finished, self.done, self.trans[s, cls]), var, step

    def allowed_columns(self, state: State, row_caps: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C) bool: the columns each row may emit next. ``row_caps`` (B,): a row whose
        integer part already has that many digits may not add another."""
        s, var, _ = state
        ok = self.allowed[s, (var == self.num_vars - 1).long()]
        if row_caps is not None:
            in_int = (s >= self.first_int) & (s < self.first_frac)
            full = in_int & (s - self.first_int + 1 >= row_caps)
            ok = ok & ~(full[:, None] & self.digit_columns)
        return ok

    def is_done(self, state: State) -> torch.Tensor:
        return state[0] == self.done
