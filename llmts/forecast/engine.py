"""llmts's own constrained decode loop (``decoding.engine=llmts``): fixed shapes, no host sync
inside a step, one prefill per series.

For a batch of n series × s samples (R = n·s rows):

1. **Prefill** the n left-padded prompts once (P tokens each) with the model's own attention
   into a ``DynamicCache``, then copy their keys/values, once per series, into a preallocated
   :class:`SharedPrefix`; the R rows' continuations go to a ``StaticCache`` of R rows × N slots
   (N = the grammar's longest forecast). The s samples of a series share its prompt: it is
   neither copied nor read s times.
2. **Step**: feed each row's last token at absolute position P + t, attend with
   :func:`shared_prefix_attention` (registered with transformers' ``AttentionInterface`` and set
   on the model while it steps), keep only the last position's logits (``logits_to_keep=1``) and
   only the grammar's ~16 token columns, mask them with :class:`llmts.codec.grammar.Grammar`'s
   on-device state tables, then pick a column — greedy argmax, or temperature → top-k → top-p →
   a draw by the exponential-race trick ``argmax(p / E)``, E ~ Exp(1) drawn up front, seeded per
   series (:func:`exponential_noise`), so sampling needs no RNG call inside the step. Nothing in
   a step reads a value back to the host; "are all rows done?" is asked every ``check_every``
   steps.
3. On CUDA the step is captured once as a CUDA graph (:class:`CudaGraphStep`: a plain
   ``torch.cuda.CUDAGraph`` over static input buffers, so no compiler runs: two warm-up steps,
   the capture and one eager step to check it); batches are then padded to one shape (rows, and a
   prompt width rounded up to ``PROMPT_BUCKET``) and the buffers are reused, so one capture serves
   every batch, and every later ``forecast`` call given the same kept ``decoders`` dict. The
   captured step is checked against the eager one once; on any failure llmts warns and
   decodes eagerly. Captured (or compiled) steps keep one shape and attend to all N
   continuation slots, masking the unwritten; eager steps (CPU) read only the slots written.

Everything runs in the model's own dtype (no autocast), so the KV cache holds one dtype. The
attention masks are built here (transformers then skips its own mask construction, which holds
host syncs): a prompt key k may be attended to iff pad ≤ k, a continuation slot iff it has been
written. A step reads each prompt key once per series instead of once per sample and query
head: transformers' SDPA over a repeated cache copied each key/value head once per query head
sharing it, every step, over R·(P + N) keys.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from transformers import AttentionInterface

from llmts.codec.grammar import Grammar, State
from llmts.errors import LlmtsError
from llmts.model.build import base_model, capabilities

log = logging.getLogger(__name__)
PROMPT_BUCKET = 64  # captured decoding pads prompt widths to a multiple of this (fewer shapes)
DECODE_ATTENTION = "llmts_shared_prefix"  # the attention implementation's name in decode steps


@dataclass
class SharedPrefix:
    """The prompts' keys and values, one row per series (not per sample): ``keys[layer]`` and
    ``values[layer]`` (n, H_kv, P, d) in the model's dtype, and ``bias`` (n, 1, 1, P) float32,
    0 where a key may be attended to and -inf on the left padding. Static buffers, refilled by
    each batch's prefill (a captured step reads them at fixed addresses)."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    bias: torch.Tensor


def shared_prefix_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor,
    dropout: float = 0.0,
    scaling: float | None = None,
    *,
    prefix: SharedPrefix,
    column: torch.Tensor | None = None,
    sliding_window: int | None = None,
    softcap: float | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """Attention of one new position per row (a decode step) over a prompt shared by the s
    samples of each series plus each row's own continuation.

    query (R, H, 1, d), R = n·s rows in series-major order; key/value (R, H_kv, N, d): this
    layer's cache of the continuation, of which the first T = ``attention_mask``.shape[-1]
    slots are read (``attention_mask`` (R, 1, 1, T) bool: the slots written so far); the
    prompt's keys/values come from ``prefix`` (n, H_kv, P, d). One softmax runs over the
    prompt's and the continuation's scores together, the two parts kept apart:

        m = max(s_p, s_t),   out = (Σ e^(s_p − m)·V_p + Σ e^(s_t − m)·V_t) / Σ e^(s − m),

    s = q·kᵀ·scaling. Each prompt key/value head is read once per series, for all its samples
    and all the query heads that share it (grouped-query heads h → h // (H / H_kv),
    transformers' ``repeat_kv`` order): a decode step reads n·P + R·T keys instead of
    R·(P + N). Scores and softmax in float32; returns (R, 1, H, d) in the query's dtype, as
    transformers' attention functions do.

    A sliding-window layer (the model passes its ``sliding_window`` w) attends only to keys
    whose column k (prompt columns 0..P-1, then slot t at P + t) has ``column`` − k < w,
    ``column`` (0-d) being the query's; ``softcap`` (Gemma 2): s ← softcap·tanh(s / softcap)."""
    keys_p, values_p = prefix.keys[module.layer_idx], prefix.values[module.layer_idx]
    n, kv, _, dim = keys_p.shape
    rows, heads, _, _ = query.shape
    samples, groups = rows // n, heads // kv
    span = attention_mask.shape[-1]
    key, value = key[:, :, :span], value[:, :, :span]
    scale = dim**-0.5 if scaling is None else scaling

    def by_series(x: torch.Tensor) -> torch.Tensor:  # (R, H_kv, g, ·) -> (n, H_kv, s·g, ·)
        x = x.view(n, samples, kv, groups, -1).transpose(1, 2)
        return x.reshape(n, kv, samples * groups, -1)

    def by_row(x: torch.Tensor) -> torch.Tensor:  # the inverse
        return x.view(n, kv, samples, groups, -1).transpose(1, 2).reshape(rows, kv, groups, -1)

    q_rows = query.view(rows, kv, groups, dim)
    s_p = (by_series(q_rows) @ keys_p.transpose(-1, -2)).float().mul_(scale)
    s_t = (q_rows @ key.transpose(-1, -2)).float().mul_(scale)
    if softcap:
        s_p = s_p.div_(softcap).tanh_().mul_(softcap)
        s_t = s_t.div_(softcap).tanh_().mul_(softcap)
    s_p.add_(prefix.bias)
    s_t.masked_fill_(~attention_mask, float("-inf"))  # (R, H_kv, g, T)
    if sliding_window:
        width = keys_p.shape[2]
        far = column - sliding_window  # a key at or before this column is out of the window
        s_p.masked_fill_(torch.arange(width, device=s_p.device) <= far, float("-inf"))
        slots = torch.arange(span, device=s_t.device) + width
        s_t.masked_fill_(slots <= far, float("-inf"))
    top = torch.maximum(s_p.amax(-1, keepdim=True), by_series(s_t.amax(-1, keepdim=True)))
    e_p, e_t = s_p.sub_(top).exp_(), s_t.sub_(by_row(top)).exp_()
    total = e_p.sum(-1, keepdim=True).add_(by_series(e_t.sum(-1, keepdim=True)))
    out = (e_p.to(values_p.dtype) @ values_p).float()
    out.add_(by_series(e_t.to(value.dtype) @ value)).div_(total)  # (n, H_kv, s·g, d)
    out = out.to(query.dtype).view(n, kv, samples, groups, dim).transpose(1, 2)
    return out.reshape(rows, 1, heads, dim), None


def unsupported(model: nn.Module) -> str | None:
    """Why llmts's decode loop cannot run ``model`` (None: it can), from its
    :class:`llmts.model.build.Capabilities`: the shared-prefix attention stands in for the
    model's own through transformers' ``AttentionInterface`` (sdpa or eager), and the masks it
    prepares cover full and sliding-window layers (several kinds in one model: as a dict)."""
    caps = capabilities(model)
    impl = base_model(model).config._attn_implementation
    if not caps.attention_backend:
        return "this model's attention does not go through transformers' AttentionInterface"
    if impl not in ("sdpa", "eager"):
        return f"it needs model.attn_implementation sdpa or eager, not {impl}"
    if not set(caps.layer_types) <= {"full_attention", "sliding_attention"}:
        return f"layer types {', '.join(caps.kinds)} are not full or sliding-window attention"
    if len(caps.kinds) > 1 and not caps.prepared_masks:
        return "this model mixes layer types but takes no prepared mask per type"
    return None


def model_dtype(model: nn.Module) -> torch.dtype:
    """The dtype the model computes in: that of its input embeddings."""
    return model.get_input_embeddings().weight.dtype


def pick_columns(
    scores: torch.Tensor,
    ok: torch.Tensor,
    noise: torch.Tensor | None,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
) -> torch.Tensor:
    """(R,) the column each row emits, from its scores (R, C) over the allowed columns ``ok``.

    ``noise`` None: greedy (argmax; ties go to the lowest column, as a full-vocabulary argmax).
    Else sampling in Hugging Face's order: scores / temperature, keep the ``top_k`` best, keep the
    smallest set whose probability exceeds ``top_p`` (always ≥ 1 column), then draw from
    p = softmax(scores) as argmax(p / E) with ``noise`` = E ~ Exp(1) (R, C), which picks column c
    with probability p_c."""
    scores = scores.masked_fill(~ok, float("-inf"))
    if noise is None:
        return scores.argmax(-1)
    scores = scores / temperature
    if 0 < top_k < scores.shape[-1]:
        kth = torch.topk(scores, top_k, dim=-1).values[:, -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if top_p < 1.0:
        ordered, order = torch.sort(scores, dim=-1)  # ascending, as HF's TopPLogitsWarper
        drop = ordered.softmax(-1).cumsum(-1) <= 1 - top_p
        drop[:, -1] = False  # the most likely column always stays
        scores = scores.masked_fill(drop.scatter(1, order, drop), float("-inf"))
    return (scores.softmax(-1) / noise).argmax(-1)


def exponential_noise(
    series: range, samples: int, steps: int, columns: int, seed: int, device: torch.device
) -> torch.Tensor:
    """(len(series)·samples, steps, columns) Exp(1) draws, series-major: series i's samples
    come from a CPU generator seeded from numpy's ``SeedSequence([seed mod 2⁶⁴, i])`` (torch's CPU
    generator keeps 32 bits of a seed: the pair is hashed into them), i its index among all
    the series of the call. So a series' draws are the same on every device and in every
    batch: batch size, padding and the other series change no forecast, and no RNG state is
    shared."""
    out = torch.empty(len(series), samples, steps, columns)
    for block, i in zip(out, series):
        state = int(np.random.SeedSequence([seed % 2**64, i]).generate_state(1)[0])
        block.exponential_(generator=torch.Generator().manual_seed(state))
    return out.view(-1, steps, columns).to(device)


class Decoder:
    """Constrained decoding of many prompts with one model and one grammar.

    ``cuda_graph``: capture the step as a CUDA graph (CUDA only). ``compile``: keyword arguments
    for ``torch.compile`` of the step (tests pass ``backend="eager", fullgraph=True`` on CPU to
    prove the step has no graph break). Either one pads batches to fixed shapes.
    """

    def __init__(
        self,
        model: nn.Module,
        grammar: Grammar,
        max_new: int,
        pad_id: int,
        *,
        sampling: dict | None = None,
        compile: dict | None = None,
        cuda_graph: bool = False,
        check_every: int = 8,
    ) -> None:
        self.net = base_model(model)
        if reason := unsupported(model):
            raise LlmtsError(f"decoding.engine=llmts: {reason}; use decoding.engine=hf")
        self.caps = capabilities(model)
        impl = self.net.config._attn_implementation
        self.device = next(self.net.parameters()).device
        self.dtype = model_dtype(self.net)
        self.bool_mask = impl == "sdpa"  # eager attention adds the mask: it must be float
        AttentionInterface.register(DECODE_ATTENTION, shared_prefix_attention)
        self.grammar = grammar.to(self.device)
        self.max_new, self.pad_id, self.sampling = max_new, pad_id, sampling
        self.check_every, self.cuda_graph = check_every, cuda_graph and self.device.type == "cuda"
        self.captured = compile is not None or self.cuda_graph  # fixed shapes
        self._graph_step: Callable | None = None  # the step captured on the current cache
        self.cache_kw = (
            "cache"
            if "cache" in inspect.signature(self.net.forward).parameters
            else "past_key_values"
        )  # transformers renamed it in 5.x
        self._cache = None  # reused across batches of one shape (one CUDA-graph capture)
        self._prefix: SharedPrefix | None = None  # the prompts' keys/values, with the cache
        self._step: Callable = torch.compile(self.step, **compile) if compile else self.step

    def forward(
        self,
        input_ids: torch.Tensor,
        mask: torch.Tensor,
        positions: torch.Tensor,
        cache,
        sliding: torch.Tensor | None = None,
        **kw,
    ) -> torch.Tensor:
        """Float32 scores (B, C) of the grammar's columns at the last position; ``mask`` the
        full-attention layers' prepared mask, ``sliding`` the sliding-window layers' (None: the
        same); ``kw`` goes on to the attention function (a step's ``prefix``)."""
        out = self.net(
            input_ids=input_ids,
            attention_mask=self.caps.masks(mask, mask if sliding is None else sliding),
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **{self.cache_kw: cache},
            **kw,
        )
        return out.logits[:, -1, self.grammar.columns].float()

    def mask(self, allowed: torch.Tensor) -> torch.Tensor:
        """A bool "may attend" tensor as the model's attention implementation wants it (the
        prefill's)."""
        if self.bool_mask:
            return allowed
        zero = torch.zeros((), dtype=self.dtype, device=allowed.device)
        return torch.where(allowed, zero, torch.finfo(self.dtype).min)

    def step(
        self,
        cols: torch.Tensor,
        state: State,
        pos: torch.Tensor,
        pad: torch.Tensor,
        caps: torch.Tensor,
        noise: torch.Tensor | None,
        span: int | None = None,
    ) -> tuple[torch.Tensor, State]:
        """Feed each row's last column ``cols`` at absolute position ``pos`` (0-d) and pick the
        next: device tensors only. The prompt is in :attr:`_prefix`; the cache holds the
        continuation, slot k at position width + k. ``span``: attend to the first ``span``
        slots only (eager decoding: those written so far); None: all ``max_new`` (fixed shapes,
        unwritten slots masked)."""
        g = self.grammar
        state = g.advance(tuple(state), g.col_class[cols])
        span = span or self.max_new
        slots = torch.arange(span, device=pos.device)
        allowed = (slots <= pos - self._width).expand(len(cols), 1, 1, span)
        ids, positions = g.columns[cols][:, None], (pos - pad)[:, None]
        scores = self.forward(ids, allowed, positions, self._cache, prefix=self._prefix, column=pos)
        return pick_columns(
            scores, g.allowed_columns(state, caps), noise, **(self.sampling or {})
        ), state

    def static_cache(self, series: int, samples: int, width: int):
        """The decode buffers for ``series`` prompts of ``width`` tokens × ``samples``: a
        :class:`SharedPrefix` of ``series`` rows and a ``StaticCache`` of series·samples rows ×
        ``max_new`` slots for the continuations, in the model's dtype; reused while the shape
        stays the same."""
        from transformers import StaticCache
        from transformers.cache_utils import Cache, StaticLayer

        key = (series, samples, width)
        if self._cache is None or self._cache_key != key:
            cfg = self.net.config
            kv = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
            head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
            if self.caps.full_attention_only:
                cache = StaticCache(config=cfg, max_cache_len=self.max_new)
            else:  # every slot kept: the decode attention applies the window itself
                layers = [StaticLayer(max_cache_len=self.max_new) for _ in self.caps.layer_types]
                cache = Cache(layers=layers)
            cache.early_initialization(series * samples, kv, head_dim, self.dtype, self.device)
            if not all(hasattr(layer, "cumulative_length") for layer in cache.layers):
                raise LlmtsError(
                    "decoding.engine=llmts: this transformers' StaticCache has no "
                    "cumulative_length; use decoding.engine=hf"
                )
            shape = (series, kv, width, head_dim)
            new = [torch.empty(shape, dtype=self.dtype, device=self.device) for _ in cache.layers]
            self._prefix = SharedPrefix(
                new,
                [torch.empty_like(t) for t in new],
                torch.empty(series, 1, 1, width, device=self.device),
            )
            self._cache, self._cache_key, self._width = cache, key, width
            self._graph_step = None  # it was captured on the previous buffers' memory
        return self._cache

    def prefill(self, ids: torch.Tensor, pad: torch.Tensor, samples: int) -> torch.Tensor:
        """Run the prompts (n, P) once with the model's own attention, keep their keys/values
        (once per series) as the shared prefix, empty the continuations' cache; returns the
        first scores (n·samples, C)."""
        from transformers import DynamicCache

        n, width = ids.shape
        q = torch.arange(width, device=self.device)
        causal = (q[None, :] <= q[:, None]) & (q[None, None, :] >= pad[:, None, None])
        # A pad position attends to itself only, so its (unused) states stay finite.
        allowed = causal | torch.eye(width, dtype=torch.bool, device=self.device)
        sliding = None
        if window := self.caps.sliding_window:
            sliding = self.mask(allowed & (q[:, None] - q[None, :] < window))[:, None]
        # Full layers throughout (no sliding cache layer): every prompt key is kept for the
        # shared prefix, and the masks apply the window.
        prefix = DynamicCache() if sliding is not None else DynamicCache(config=self.net.config)
        scores = self.forward(
            ids, self.mask(allowed)[:, None], (q - pad[:, None]).clamp(min=0), prefix, sliding
        )
        cache = self.static_cache(n, samples, width)
        shared = self._prefix
        for i, (layer, pre) in enumerate(zip(cache.layers, prefix.layers)):
            shared.keys[i].copy_(pre.keys)
            shared.values[i].copy_(pre.values)
            layer.cumulative_length.fill_(0)
        shared.bias.copy_(torch.where(q >= pad[:, None], 0.0, float("-inf"))[:, None, None])
        return scores.repeat_interleave(samples, 0)

    @torch.no_grad()
    def decode(
        self,
        prompts: list[list[int]],
        samples: int,
        caps: torch.Tensor,
        seed: int = 0,
        rows: int | None = None,
        first: int = 0,
    ) -> torch.Tensor:
        """Token IDs (n·samples, max_new) generated after each prompt (pad after the end).
        ``caps`` (n·samples,): each row's integer-digit cap. ``rows``: pad the batch to this many
        series (captured decoding reuses one shape). ``first``: the index of ``prompts[0]``
        among the series of the whole forecast (sampled draws are seeded per series)."""
        n = len(prompts)
        width = max(map(len, prompts))
        if self.captured:
            width = -(-width // PROMPT_BUCKET) * PROMPT_BUCKET
            prompts = prompts + [prompts[0]] * (max(rows or n, n) - n)
            caps = torch.cat([caps, caps[:1].expand((len(prompts) - n) * samples)])
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        for i, p in enumerate(prompts):
            ids[i, width - len(p) :] = torch.tensor(p)
        lengths = torch.tensor([len(p) for p in prompts])
        ids, pad = ids.to(self.device), (width - lengths).to(self.device)
        caps = caps.to(self.device)
        with torch.autocast(self.device.type, enabled=False):
            series = range(first, first + len(prompts))
            out = self._loop(ids, pad, samples, caps, seed, series)  # in the model's own dtype
        return out[: n * samples]

    @contextlib.contextmanager
    def decoding_attention(self) -> Iterator[None]:
        """The model's attention implementation is :data:`DECODE_ATTENTION` inside, its own
        again after, whatever happens."""
        own = self.net.config._attn_implementation
        self.net.set_attn_implementation(DECODE_ATTENTION)
        try:
            yield
        finally:
            self.net.set_attn_implementation(own)

    def _loop(
        self,
        ids: torch.Tensor,
        pad: torch.Tensor,
        samples: int,
        caps: torch.Tensor,
        seed: int,
        series: range,
    ) -> torch.Tensor:
        g, total = self.grammar, len(ids) * samples
        scores = self.prefill(ids, pad, samples)
        pad = pad.repeat_interleave(samples)
        noise = (
            exponential_noise(series, samples, self.max_new, len(g.columns), seed, self.device)
            if self.sampling is not None
            else None
        )
        state = g.init_state(total, self.device)
        cols = pick_columns(
            scores,
            g.allowed_columns(state, caps),
            None if noise is None else noise[:, 0],
            **(self.sampling or {}),
        )
        out = torch.full(
            (total, self.max_new), len(g.columns), dtype=torch.long, device=self.device
        )  # one past the columns: "pad" below
        out[:, 0] = cols
        positions = torch.arange(ids.shape[1], ids.shape[1] + self.max_new, device=self.device)
        with self.decoding_attention():
            step = self._step
            if self.cuda_graph:
                first = None if noise is None else noise[:, 1]
                step = self._graph(cols, state, positions[0], pad, caps, first) or step
            for t in range(1, self.max_new):
                args = (
                    cols,
                    state,
                    positions[t - 1],
                    pad,
                    caps,
                    None if noise is None else noise[:, t],
                )
                cols, state = step(*args) if self.captured else step(*args, span=t)
                out[:, t] = cols
                if t % self.check_every == 0 and bool(g.is_done(state).all()):  # the only sync
                    break
        ends = torch.full((1,), self.pad_id, dtype=torch.long, device=self.device)
        return torch.cat([g.columns, ends])[out]

    def _graph(self, cols, state, pos, pad, caps, noise) -> Callable | None:
        """The step as a CUDA graph for the current cache (captured once per cache), or None
        (with a warning, and eager decoding from then on) when capture fails or disagrees with
        the eager step."""
        if self._graph_step is None:

            def rewind() -> None:  # warm-up and check steps must not advance the cache
                for layer in self._cache.layers:
                    layer.cumulative_length.fill_(0)

            args = (cols, tuple(state), pos, pad, caps, noise)
            try:
                graph = CudaGraphStep(self.step, args, rewind)
                eager = self.step(*args)
                rewind()
                same = all(torch.equal(a, b) for a, b in zip(_flat(eager), _flat(graph(*args))))
                rewind()
                if not same:
                    raise RuntimeError("captured step differs from the eager step")
            except Exception as exc:  # noqa: BLE001 - decoding goes on, eagerly
                log.warning("decoding: CUDA-graph capture failed (%s); decoding eagerly", exc)
                self.cuda_graph = False
                return None
            self._graph_step = graph
        return self._graph_step


def _flat(tree) -> list[torch.Tensor]:
    """The tensors of a nested tuple, in order (None skipped)."""
    if isinstance(tree, (tuple, list)):
        return [t for item in tree for t in _flat(item)]
    return [] if tree is None else [tree]


class CudaGraphStep:
    """``step`` captured once as a ``torch.cuda.CUDAGraph`` over static input buffers. A call
    copies its inputs into the buffers, replays the graph and returns clones of its outputs.
    ``rewind`` undoes the cache advance of the two warm-up steps (cuBLAS/allocator setup)."""

    def __init__(self, step: Callable, args: tuple, rewind: Callable[[], None]) -> None:
        self.buffers = _flat(args)
        self.inputs = _rebuild(args, iter(t.clone() for t in self.buffers))
        self.buffers = _flat(self.inputs)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):
                step(*self.inputs)
        torch.cuda.current_stream().wait_stream(stream)
        rewind()
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.outputs = step(*self.inputs)

    def __call__(self, *args):
        for buffer, value in zip(self.buffers, _flat(args)):
            buffer.copy_(value)
        self.graph.replay()
        return _rebuild(self.outputs, iter(t.clone() for t in _flat(self.outputs)))


def _rebuild(tree, values):
    """``tree`` with its tensors replaced, in order, by ``values``."""
    if isinstance(tree, (tuple, list)):
        return tuple(_rebuild(item, values) for item in tree)
    return None if tree is None else next(values)
