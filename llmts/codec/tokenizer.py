"""Tokenizers: the real Qwen2.5 one (from the hub or a local folder) and a tiny one built in code.

The tiny tokenizer is Qwen2's byte-level BPE with no merges: its first 256 IDs are the byte
alphabet in GPT-2's order, exactly as in Qwen's vocab.json, and it uses Qwen2's pre-tokenizer
(every digit its own piece). Hence ``0-9 , . ; -`` get Qwen's IDs (``0``→15, ``,``→11, ``.``→13,
``;``→26) and an LLMTIME string tokenises to the same IDs under both tokenizers.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from llmts.errors import LlmtsError, first_line

if TYPE_CHECKING:
    import torch
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
        tok = AutoTokenizer.from_pretrained(where, revision=cfg.revision, trust_remote_code=False,
                                            padding_side="left")
    except (OSError, ValueError) as exc:
        raise LlmtsError(
            f"model: cannot load tokenizer '{where}' ({first_line(exc)}); offline? "
            "try model=tiny, or model.path=/local/folder"
        ) from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def require_obtainable(where: str, revision: str | None = None) -> None:
    """Fail in a few seconds, not after a minute of the hub client's retries, when ``where`` is
    neither a local folder, nor in the Hugging Face cache, nor reachable (offline machine, a hub
    that refuses connections, typo'd path): one TCP connect to the hub with a 3 s timeout."""
    import os
    import socket
    from pathlib import Path
    from urllib.parse import urlparse

    if Path(where).expanduser().exists():
        return
    if where.startswith(("/", ".", "~")):
        raise LlmtsError(f"model: no such folder '{where}'; try model=tiny, or model.path=/local/folder")
    from huggingface_hub import constants, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(where, "config.json", revision=revision), str):
        return
    url = urlparse(constants.ENDPOINT)
    host = url.hostname or "huggingface.co"
    try:
        if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false"):
            raise OSError("HF_HUB_OFFLINE is set")
        socket.create_connection((host, url.port or (80 if url.scheme == "http" else 443)),
                                 timeout=3).close()
    except OSError as exc:
        raise LlmtsError(f"model: '{where}' is not in the local Hugging Face cache and {host} is "
                         f"unreachable ({exc}); try model=tiny, or model.path=/local/folder") from None


def make_windows(
    texts: list[str], tokenizer: PreTrainedTokenizerBase, context_length: int, stride: int,
    separator: str = "",
) -> dict[str, torch.Tensor]:
    """Training windows: each text tokenised, cut into ``context_length``-token windows every
    ``stride`` tokens, each start moved back to the nearest time-step boundary (just after a
    ``;``) when one lies inside the stride, the last window right-padded. Returns
    ``input_ids``, ``attention_mask`` and ``labels`` (W, L); padding has label −100, so it
    contributes nothing to the loss. ``separator``: the codec's ``data.digit_separator``."""
    import torch

    step_id = tokenizer.encode(separator + ";", add_special_tokens=False)[0]
    rows: list[list[int]] = []
    # One batched call (fast tokenizers parallelise it); transformers rejects an empty batch.
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []:
        rows.extend(_cut(ids, step_id, context_length, stride))
    input_ids = torch.full((len(rows), context_length), tokenizer.pad_token_id, dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = torch.tensor(row)
    return _windows(input_ids, torch.tensor([len(r) for r in rows], dtype=torch.long))


def _windows(input_ids: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
    """The three (W, L) tensors from right-padded IDs and each window's length."""
    import torch

    mask = (torch.arange(input_ids.shape[1]) < lengths[:, None]).long()
    return {"input_ids": input_ids, "attention_mask": mask,
            "labels": input_ids.masked_fill(mask == 0, -100)}


def cached_windows(texts: list[str], tokenizer: PreTrainedTokenizerBase, context_length: int,
                   stride: int, cache: Path, separator: str = "") -> dict[str, torch.Tensor]:
    """:func:`make_windows`, kept on disk in ``cache`` under a SHA-256 of everything the windows
    depend on: the texts (hence data, split and encoding), the tokenizer's serialised form and pad
    ID, the context length and stride. A run with the same data, tokenizer and windows reloads
    them (int32 IDs + lengths, ~4 bytes per token); an unreadable entry is rebuilt."""
    import torch

    from llmts.tracking.files import atomic_path

    path = cache / f"windows-{window_key(texts, tokenizer, context_length, stride)}.pt"
    try:
        saved = torch.load(path, weights_only=True)
        log.info("tokenised windows: %s (cached)", path)
        return _windows(saved["input_ids"].long(), saved["lengths"].long())
    except FileNotFoundError:
        pass
    except Exception as exc:  # torch raises several types for a damaged file
        log.warning("tokenised windows: rebuilding unreadable %s (%s)", path, type(exc).__name__)
    windows = make_windows(texts, tokenizer, context_length, stride, separator)
    try:
        with atomic_path(path) as tmp:
            torch.save({"input_ids": windows["input_ids"].int(),
                        "lengths": windows["attention_mask"].sum(1).int()}, tmp)
        log.info("tokenised windows: %d x %d -> %s", *windows["input_ids"].shape, path)
    except OSError as exc:  # a cache is an optimisation: a read-only disk must not stop a run
        log.warning("tokenised windows: not cached (%s: %s)", type(exc).__name__, exc)
    return windows


def window_key(texts: list[str], tokenizer: PreTrainedTokenizerBase, context_length: int,
               stride: int) -> str:
    """Hex digest naming a window cache entry (see :func:`cached_windows`)."""
    import hashlib

    h = hashlib.sha256(f"v1 {context_length} {stride} {tokenizer.pad_token_id}\n".encode())
    h.update(tokenizer_fingerprint(tokenizer).encode())
    for text in texts:
        h.update(b"\x00" + text.encode())
    return h.hexdigest()[:24]


@functools.lru_cache(maxsize=2)
def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    """SHA-256 of the tokenizer's serialised form (vocab, merges, specials, pre-tokenizer).
    Memoised per tokenizer object (llmts never changes one after loading): Qwen's is several MB
    and a run keys its train and val windows with the same tokenizer."""
    import hashlib

    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else repr(tokenizer.get_vocab())
    return hashlib.sha256(text.encode()).hexdigest()


# Changing how windows are cut changes cached entries' contents: bump "v1" in window_key then.
def _cut(ids: list[int], step_id: int, length: int, stride: int) -> list[list[int]]:
    boundaries = [0] + [i + 1 for i, t in enumerate(ids) if t == step_id]
    out, prev, nominal = [], -1, 0
    while True:
        start = max((b for b in boundaries if nominal - stride < b <= nominal), default=nominal)
        if start > prev:
            out.append(ids[start:start + length])
            prev = start
        if start + length >= len(ids):
            return out
        nominal += stride


def training_windows(series, tokenizer: PreTrainedTokenizerBase, data_cfg, seed: int = 0) -> dict:
    """Each series encoded with its own α (gaps knocked in with ``data.mask_prob``, seeded),
    tokenised and cut into windows (cached on disk)."""
    from llmts.data.series import cache_dir
    from llmts.codec.llmtime import encode_data

    texts = encode_data(series, data_cfg, seed)
    stride = data_cfg.stride or data_cfg.context_length // 2
    return cached_windows(texts, tokenizer, data_cfg.context_length, stride,
                          cache_dir(data_cfg) / "windows", data_cfg.digit_separator)
