"""Tokenizers: the real Qwen2.5 one (from the hub or a local folder) and a tiny one built in code,
and the check that a tokenizer writes the codec one token per character.

The tiny tokenizer is Qwen2's byte-level BPE with no merges: its first 256 IDs are the byte
alphabet in GPT-2's order, exactly as in Qwen's vocab.json, and it uses Qwen2's pre-tokenizer
(every digit its own piece). Hence ``0-9 , . ; -`` get Qwen's IDs (``0``→15, ``,``→11, ``.``→13,
``;``→26) and an LLMTIME string tokenises to the same IDs under both tokenizers.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from llmts.codec.grammar import DIGITS, grammar_token_ids
from llmts.codec.llmtime import MISSING
from llmts.errors import LlmtsError, first_line

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from llmts.config.schema import ModelConfig

# Qwen2's pre-tokenizer split pattern (from its tokenizer.json): \p{N} matches one digit at a time.
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
log = logging.getLogger(__name__)


def build_tiny_tokenizer() -> PreTrainedTokenizerBase:
    """A 259-token byte-level tokenizer whose 256 byte IDs coincide with Qwen2's."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    # Non-printable bytes map to code points >= 256 in GPT-2's table, so sorting the alphabet by
    # code point gives the byte tokens in the order Qwen's vocab.json lists them.
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet(), key=ord)
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], fuse_unk=False))
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    core.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
    return tok


def load_tokenizer(cfg: ModelConfig) -> PreTrainedTokenizerBase:
    """The tokenizer for ``cfg``: built in code for random-weight models (unless
    ``model.tokenizer_path`` names one), else ``from_pretrained`` of the hub id or local path."""
    if cfg.source == "random" and not cfg.tokenizer_path:
        return build_tiny_tokenizer()
    return _pretrained_tokenizer(cfg)


def _pretrained_tokenizer(cfg: ModelConfig) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    where = cfg.tokenizer_path or cfg.path or cfg.name
    require_obtainable(where, cfg.revision)
    try:  # the same revision as the weights
        tok = AutoTokenizer.from_pretrained(
            where, revision=cfg.revision, trust_remote_code=False, padding_side="left"
        )
    except (OSError, ValueError) as exc:
        raise LlmtsError(
            f"model: cannot load tokenizer '{hub_ref(where, cfg.revision)}' "
            f"({first_line(exc)}); offline? "
            "try model=tiny, or model.path=/local/folder"
        ) from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def hub_ref(where: str, revision: str | None) -> str:
    """How an error line names a model: ``ORG/NAME@COMMIT`` when a revision is pinned (so that
    a ``model.name`` changed on a pinned option shows the pin it kept), else ``where``."""
    local = Path(where).expanduser().exists()
    return f"{where}@{revision[:12]}" if revision and not local else where


def require_obtainable(where: str, revision: str | None = None) -> None:
    """Fail in a few seconds, not after a minute of the hub client's retries, when ``where`` is
    neither a local folder, nor in the Hugging Face cache, nor reachable (offline machine, a hub
    that refuses connections, typo'd path): one TCP connect to the hub with a 3 s timeout."""
    import os
    import socket
    from urllib.parse import urlparse

    if Path(where).expanduser().exists():
        return
    if where.startswith(("/", ".", "~")):
        raise LlmtsError(
            f"model: no such folder '{where}'; try model=tiny, or model.path=/local/folder"
        )
    from huggingface_hub import constants, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(where, "config.json", revision=revision), str):
        return
    url = urlparse(constants.ENDPOINT)
    host = url.hostname or "huggingface.co"
    try:
        if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false"):
            raise OSError("HF_HUB_OFFLINE is set")
        socket.create_connection(
            (host, url.port or (80 if url.scheme == "http" else 443)), timeout=3
        ).close()
    except OSError as exc:
        raise LlmtsError(
            f"model: '{hub_ref(where, revision)}' is not in the local Hugging Face cache and "
            f"{host} is unreachable ({exc}); try model=tiny, or model.path=/local/folder"
        ) from None


def codec_token_ids(
    tokenizer: PreTrainedTokenizerBase, separator: str = "", missing: bool = False
) -> list[int]:
    """Every token ID a codec text can hold: the grammar's, plus the missing field's."""
    ids = list(grammar_token_ids(tokenizer, separator).values())
    if missing:
        ids += tokenizer.encode(separator + MISSING, add_special_tokens=False)
    return sorted(set(ids))


def _follows(signed: bool, missing: bool) -> dict[str, tuple[str, ...]]:
    """Which codec unit can come right after which (the pairs a codec text can hold)."""
    starts = DIGITS + ("-",) * signed + (MISSING,) * missing
    pairs = {
        **{d: DIGITS + (".", ",", ";") for d in DIGITS},
        ".": DIGITS,
        ",": starts,
        ";": starts,
        "-": DIGITS,
        MISSING: (",", ";"),
    }
    return {a: b for a, b in pairs.items() if (a != "-" or signed) and (a != MISSING or missing)}


def choose_separator(tokenizer: PreTrainedTokenizerBase, signed: bool, missing: bool) -> str:
    """``data.digit_separator=auto``: ``''`` when the codec's characters are one token each
    and no neighbours merge (Qwen, Llama 3, Gemma: every digit its own token), else ``' '``
    (LLMTIME's spaced digits: GPT-2, Pythia) when that writes them apart; one log line says
    which. Where neither does, ``''``: the tokenizer check then says what is wrong."""
    split, merged = _token_problems(tokenizer, "", signed, missing)
    if _unwritable(tokenizer, "", signed, missing):
        return ""  # no separator helps: the tokenizer check says what it lacks
    if not split and not merged:
        log.info("data.digit_separator=auto: '' (the tokenizer writes every digit as one token)")
        return ""
    if not any(_token_problems(tokenizer, " ", signed, missing)):
        what = f"merges {', '.join(map(repr, merged[:3]))}" if merged else "splits characters"
        log.info("data.digit_separator=auto: ' ' (the tokenizer %s: digits written apart)", what)
        return " "
    return ""


def check_codec_tokens(
    tokenizer: PreTrainedTokenizerBase,
    separator: str = "",
    signed: bool = True,
    missing: bool = False,
) -> None:
    """Stop with one line unless the codec's text tokenises one character at a time: each of
    ``0-9 , . ; -`` (after ``separator``) is one token, and for every pair of units a codec text
    can hold side by side (``12``, ``5;``, ``;-``, ``,NaN``, ...) the pair's tokens are the two
    units' tokens (no merge across them). ``signed``: the data has negative values (else ``-``
    never occurs); ``missing``: ``NaN`` fields occur. Tokenizers that merge digits (Llama-3's)
    fail this; ``data.digit_separator=' '`` writes the characters apart (LLMTIME's fix), and the
    message suggests it only when it does pass."""
    lost = _unwritable(tokenizer, separator, signed, missing)
    if lost:
        raise LlmtsError(
            f"tokenizer cannot write {', '.join(map(repr, lost))} (no token decodes back to "
            "it): the codec needs every digit and , . ; (- for signed data); use another "
            "tokenizer"
        )
    split, merged = _token_problems(tokenizer, separator, signed, missing)
    if not split and not merged:
        return
    what = (
        f"splits {', '.join(map(repr, split[:6]))} into several tokens"
        if split
        else f"merges {', '.join(map(repr, merged[:6]))}{' ...' if len(merged) > 6 else ''} "
        f"({len(merged)} pairs of codec characters)"
    )
    if not separator and not any(_token_problems(tokenizer, " ", signed, missing)):
        fix = "set data.digit_separator=' ' to write the characters apart"
    elif signed and not any(_token_problems(tokenizer, separator, False, missing)):
        fix = (
            "the data has negative values: set data.scale=affine (every value is then "
            "written >= 0, without a sign)"
        )
    else:
        fix = "no data.digit_separator fixes this tokenizer; use another one"
    raise LlmtsError(f"tokenizer {what}: the codec needs one token per character; {fix}")


def _unwritable(
    tokenizer: PreTrainedTokenizerBase, separator: str, signed: bool, missing: bool
) -> list[str]:
    """The codec characters the tokenizer has no token for: their IDs hold the unknown token,
    or do not decode back to the character."""
    units = list(_follows(signed, missing))
    ids = tokenizer([separator + u for u in units], add_special_tokens=False)["input_ids"]
    unk = tokenizer.unk_token_id
    return [
        u
        for u, t in zip(units, ids)
        if (unk is not None and unk in t) or tokenizer.decode(t).strip() != u
    ]


def _token_problems(
    tokenizer: PreTrainedTokenizerBase, separator: str, signed: bool, missing: bool
) -> tuple[list[str], list[str]]:
    """(units that are not one token, adjacent pairs whose tokens merge)."""
    follows = _follows(signed, missing)
    units = {u: separator + u for u in follows}
    single = dict(
        zip(units, tokenizer(list(units.values()), add_special_tokens=False)["input_ids"])
    )
    split = [units[u] for u, t in single.items() if len(t) != 1 and u != MISSING]
    pairs = [(a, b) for a, after in follows.items() for b in after]
    enc = tokenizer([units[a] + units[b] for a, b in pairs], add_special_tokens=False)["input_ids"]
    return split, [
        units[a] + units[b] for (a, b), ids in zip(pairs, enc) if ids != single[a] + single[b]
    ]
