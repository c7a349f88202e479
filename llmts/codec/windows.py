"""Training windows: encoded series tokenised and cut into fixed-length windows that start on
time-step boundaries, cached on disk under a hash of everything they depend on."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from llmts.data.series import cache_dir
from llmts.tracking.files import atomic_path

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

    from llmts.codec.codec import Codec
    from llmts.config.schema import DataConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Windows:
    """Right-padded token windows: ``input_ids`` (W, L) (int32 as built and cached) and each
    window's real length (W,). The attention mask (position < length) and the labels (the IDs,
    padding −100 so it adds nothing to the loss) follow from the lengths, so they are built per
    batch, never stored: 78k pretraining windows of 768 tokens take 240 MB, not 1.4 GB as three
    int64 tensors."""

    input_ids: torch.Tensor
    lengths: torch.Tensor

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def attention_mask(self) -> torch.Tensor:
        """(W, L) long: 1 on a window's tokens, 0 on its padding."""
        import torch

        return (torch.arange(self.input_ids.shape[1]) < self.lengths[:, None]).long()

    def batch(self, index) -> dict[str, torch.Tensor]:
        """``input_ids``, ``attention_mask`` and ``labels`` (long, (B, L)) of windows ``index``
        (a list of rows, a tensor or a boolean mask)."""
        import torch

        if not isinstance(index, torch.Tensor):
            index = torch.tensor(list(index), dtype=torch.long)
        part = self.select(index)
        ids, mask = part.input_ids.long(), part.attention_mask
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "labels": ids.masked_fill(mask == 0, -100),
        }

    def select(self, index) -> Windows:
        """The windows ``index`` (rows or a boolean mask), in that order."""
        return Windows(self.input_ids[index], self.lengths[index])


def make_windows(
    texts: list[str],
    tokenizer: PreTrainedTokenizerBase,
    context_length: int,
    stride: int,
    separator: str = "",
) -> Windows:
    """Training windows: each text tokenised, cut into ``context_length``-token windows every
    ``stride`` tokens, each start moved back to the nearest time-step boundary (just after a
    ``;``) when one lies inside the stride, the last window right-padded.
    ``separator``: the codec's ``data.digit_separator``."""
    import torch

    step_id = tokenizer.encode(separator + ";", add_special_tokens=False)[0]
    rows: list[list[int]] = []
    # One batched call (fast tokenizers parallelise it); transformers rejects an empty batch.
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []:
        rows.extend(_cut(ids, step_id, context_length, stride))
    input_ids = torch.full((len(rows), context_length), tokenizer.pad_token_id, dtype=torch.int32)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = torch.tensor(row)
    return Windows(input_ids, torch.tensor([len(r) for r in rows], dtype=torch.long))


def cached_windows(
    texts: list[str],
    tokenizer: PreTrainedTokenizerBase,
    context_length: int,
    stride: int,
    cache: Path,
    separator: str = "",
) -> Windows:
    """:func:`make_windows`, kept on disk in ``cache`` under a SHA-256 of everything the windows
    depend on: the texts (hence data, split and encoding), the tokenizer's serialised form and pad
    ID, the context length and stride. A run with the same data, tokenizer and windows reloads
    them (int32 IDs + lengths, ~4 bytes per token); an unreadable entry is rebuilt."""
    import torch

    path = cache / f"windows-{window_key(texts, tokenizer, context_length, stride)}.pt"
    try:
        saved = torch.load(path, weights_only=True)
        log.info("tokenised windows: %s (cached)", path)
        return Windows(saved["input_ids"].int(), saved["lengths"].long())
    except FileNotFoundError:
        pass
    except Exception as exc:  # torch raises several types for a damaged file
        log.warning("tokenised windows: rebuilding unreadable %s (%s)", path, type(exc).__name__)
    windows = make_windows(texts, tokenizer, context_length, stride, separator)
    try:
        with atomic_path(path) as tmp:
            torch.save(
                {"input_ids": windows.input_ids, "lengths": windows.lengths.int()},
                tmp,
            )
        log.info("tokenised windows: %d x %d -> %s", *windows.input_ids.shape, path)
    except OSError as exc:  # a cache is an optimisation: a read-only disk must not stop a run
        log.warning("tokenised windows: not cached (%s: %s)", type(exc).__name__, exc)
    return windows


def window_key(
    texts: list[str], tokenizer: PreTrainedTokenizerBase, context_length: int, stride: int
) -> str:
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
            out.append(ids[start : start + length])
            prev = start
        if start + length >= len(ids):
            return out
        nominal += stride


def training_windows(series, codec: Codec, data_cfg: DataConfig, seed: int = 0) -> Windows:
    """Each series encoded with its own α (gaps knocked in with ``data.mask_prob``, seeded),
    tokenised and cut into ``data.context_length``-token windows every ``data.stride`` (cached
    on disk)."""
    texts = codec.training_texts(series, data_cfg.mask_prob, seed)
    stride = data_cfg.stride or data_cfg.context_length // 2
    return cached_windows(
        texts,
        codec.tokenizer,
        data_cfg.context_length,
        stride,
        cache_dir(data_cfg) / "windows",
        codec.separator,
    )
