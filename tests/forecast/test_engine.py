"""llmts's decode loop (llmts/forecast/engine.py): the same greedy texts as Hugging Face
``generate`` with
the same grammar, seeded sampling, no host sync and no graph break inside a step, one KV-cache
dtype under autocast and with bf16 weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from llmts.codec.codec import Codec
from llmts.codec.grammar import Grammar, max_new_tokens
from llmts.data.series import simulate_lotka_volterra
from llmts.forecast import engine
from llmts.forecast.batch import forecast
from llmts.forecast.engine import Decoder, pick_columns
from llmts.model.build import build_model
from tests.helpers import compose

SAMPLING = dict(do_sample=True, temperature=0.7, top_k=20, top_p=0.8)


@pytest.fixture(scope="module")
def net():
    cfg = compose("model=tiny")
    return build_model(cfg.model, cfg.lora, cfg.seed).eval()


def contexts(num_vars: int, n: int = 6, steps: int = 16, seed: int = 3) -> np.ndarray:
    """LV series with D = num_vars (variables repeated or cut), one with a spike so prompts
    differ in length and in integer digits."""
    series, _ = simulate_lotka_volterra(n, steps, 40.0, seed=seed)
    ctx = np.concatenate([series, series], axis=2)[:, :, :num_vars].copy()
    ctx[0, 3] *= 40
    return ctx


def run(net, tok, ctx, batch_size=32, seed=0, horizon=4, **decoding):
    cfg = compose("model=tiny", *(f"decoding.{k}={v}" for k, v in decoding.items()))
    return forecast(
        net,
        Codec.build(cfg.data, tok),
        ctx,
        horizon,
        cfg.decoding,
        batch_size=batch_size,
        seed=seed,
    )


@pytest.mark.parametrize("batch_size, num_vars", [(1, 2), (4, 3), (32, 1), (32, 2)])
def test_greedy_texts_equal_hf_generate(net, tiny_tokenizer, num_vars, batch_size):
    ctx = contexts(num_vars)
    ours = run(net, tiny_tokenizer, ctx, batch_size, engine="llmts")
    hf = run(net, tiny_tokenizer, ctx, batch_size, engine="hf")
    assert ours.texts == hf.texts
    assert ours.parse_rate == 1.0 and np.array_equal(ours.samples, hf.samples)


def test_mixed_prompt_lengths_equal_one_prompt_at_a_time(net, tiny_tokenizer):
    """Left padding changes nothing: prompts of different lengths decoded together give what
    each gives alone."""
    ids = [
        tiny_tokenizer(t, add_special_tokens=False)["input_ids"]
        for t in ["0.5,0.6;0.7,0.8;", "1.25,0.50;0.75,1.00;0.50,0.25;", "0.1,0.2;"]
    ]
    assert len({len(i) for i in ids}) == 3
    grammar = Grammar.build(tiny_tokenizer, 2, 2, 3, max_int_digits=1)
    new = max_new_tokens(2, 3, 2, 1)
    dec = Decoder(net, grammar, new, tiny_tokenizer.pad_token_id)
    together = dec.decode(ids, 1, torch.ones(3, dtype=torch.long))
    alone = [dec.decode([i], 1, torch.ones(1, dtype=torch.long))[0] for i in ids]
    assert torch.equal(together, torch.stack(alone))


def test_sampling_is_seeded_reproducible_and_parses(net, tiny_tokenizer):
    ctx = contexts(2)
    a = run(net, tiny_tokenizer, ctx, seed=1, num_samples=5, **SAMPLING)
    b = run(net, tiny_tokenizer, ctx, seed=1, num_samples=5, **SAMPLING)
    c = run(net, tiny_tokenizer, ctx, seed=2, num_samples=5, **SAMPLING)
    assert a.samples.shape == (6, 5, 4, 2) and a.parse_rate == 1.0
    assert a.texts == b.texts and a.texts != c.texts
    assert (a.samples.std(axis=1) > 0).any()  # the samples of a series differ


def test_a_series_draws_do_not_depend_on_the_batch(net, tiny_tokenizer):
    """Sampled draws are seeded per series: one series a batch, three, or all six (and a
    series forecast alone, as the first of its call) give the same samples."""
    ctx = contexts(2)
    kw = dict(seed=4, num_samples=3, **SAMPLING)
    by_batch = [run(net, tiny_tokenizer, ctx, batch_size=b, **kw).texts for b in (3, 9, 18)]
    assert by_batch[0] == by_batch[1] == by_batch[2]
    assert run(net, tiny_tokenizer, ctx[:1], **kw).texts == by_batch[0][:3]
    assert len(set(by_batch[0])) > 3  # the draws are not one series' repeated


def test_samples_share_one_prefill(net, tiny_tokenizer, monkeypatch):
    """n series × s samples: the prefill runs on n rows, not n·s."""
    rows = []
    forward = Decoder.forward
    monkeypatch.setattr(
        Decoder,
        "forward",
        lambda self, ids, *a, **kw: rows.append(ids.shape) or forward(self, ids, *a, **kw),
    )
    run(net, tiny_tokenizer, contexts(2), num_samples=5, **SAMPLING)
    assert rows[0][0] == 6 and rows[0][1] > 1  # prefill: 6 series x P tokens
    assert {r for r in rows[1:]} == {(30, 1)}  # steps: 30 rows x 1 token


def test_pick_columns_matches_hf_top_k_top_p():
    """The allowed set after temperature/top-k/top-p equals transformers' warpers' on the same
    scores; the exponential race draws each column with its probability."""
    from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(64, 16, generator=gen) * 2
    ok = torch.rand(64, 16, generator=gen) > 0.3
    ok[:, 0] = True
    masked = scores.masked_fill(~ok, float("-inf"))
    ref = TopPLogitsWarper(0.8)(
        None, TopKLogitsWarper(5)(None, TemperatureLogitsWarper(0.7)(None, masked))
    )
    for _ in range(20):
        noise = torch.empty(64, 16).exponential_(generator=gen)
        picked = pick_columns(scores, ok, noise, 0.7, 5, 0.8)
        assert torch.isfinite(ref.gather(1, picked[:, None])).all()
    probs = torch.tensor([[0.5, 0.3, 0.2]]).log().expand(20000, 3)
    draws = pick_columns(
        probs,
        torch.ones(20000, 3, dtype=torch.bool),
        torch.empty(20000, 3).exponential_(generator=gen),
    )
    freq = torch.bincount(draws, minlength=3) / 20000
    assert torch.allclose(freq, torch.tensor([0.5, 0.3, 0.2]), atol=0.02)


def decoder_at_step(net, tok, sampling=None, compile=None):
    ids = [tok("0.5,0.6;0.7,0.8;", add_special_tokens=False)["input_ids"]] * 3
    dec = Decoder(
        net,
        Grammar.build(tok, 2, 2, 3, max_int_digits=1),
        max_new_tokens(2, 3, 2, 1),
        tok.pad_token_id,
        sampling=sampling,
        compile=compile,
    )
    return dec, ids


def test_a_decode_step_has_no_host_sync(net, tiny_tokenizer, monkeypatch):
    from tests.helpers.syncs import count_syncs  # the same probe as the training step's test

    for sampling in (None, dict(temperature=0.7, top_k=5, top_p=0.8)):
        dec, ids = decoder_at_step(net, tiny_tokenizer, sampling)
        ids_t = torch.tensor(ids)
        pad = torch.zeros(3, dtype=torch.long)
        dec.prefill(ids_t, pad, 1)
        state = dec.grammar.init_state(3, "cpu")
        noise = torch.ones(3, len(dec.grammar.columns)) if sampling else None
        args = (
            torch.zeros(3, dtype=torch.long),
            state,
            torch.tensor(ids_t.shape[1]),
            pad,
            torch.ones(3, dtype=torch.long),
            noise,
        )
        with count_syncs(monkeypatch) as probe:
            dec.step(*args)
        assert not probe.count, probe.where
    with count_syncs(monkeypatch) as probe:  # the probe does see a sync
        bool(torch.ones(1) > 0)
    assert probe.count["_local_scalar_dense"] == 1


@pytest.mark.slow  # dynamo traces the whole model for seconds
@pytest.mark.parametrize(
    "sampling", [None, dict(temperature=0.7, top_k=5, top_p=0.8)], ids=["greedy", "sampling"]
)
def test_compiled_step_has_no_graph_break_and_same_tokens(net, tiny_tokenizer, sampling):
    torch._dynamo.reset()
    eager, ids = decoder_at_step(net, tiny_tokenizer, sampling)
    compiled, _ = decoder_at_step(
        net, tiny_tokenizer, sampling, dict(backend="eager", fullgraph=True, dynamic=False)
    )
    caps = torch.ones(3, dtype=torch.long)
    # fullgraph=True raises on any graph break; two calls with new prompts reuse the capture
    for prompts in (ids, [ids[0][:8]] * 2 + [ids[0]]):
        assert torch.equal(
            eager.decode(prompts, 1, caps, seed=5),
            compiled.decode(prompts, 1, caps, seed=5, rows=3),
        )


@pytest.mark.parametrize("engine,cache", [("llmts", "static"), ("hf", "static"), ("hf", "dynamic")])
@pytest.mark.parametrize("where", ["autocast", "bf16_weights"])
def test_one_kv_cache_dtype_under_autocast_and_bf16(
    tiny_tokenizer, monkeypatch, engine, cache, where
):
    """The GPU crash: under autocast, keys came out fp32 and values bf16. Forecasts now run in
    the model's own dtype, so every cache update gets one dtype for keys and values."""
    from transformers.cache_utils import DynamicLayer, StaticLayer

    cfg = compose("model=tiny", *(["model.dtype=bfloat16"] if where == "bf16_weights" else []))
    net = build_model(cfg.model, cfg.lora, cfg.seed).eval()
    seen = set()
    for layer in (StaticLayer, DynamicLayer):
        update = layer.update
        monkeypatch.setattr(
            layer,
            "update",
            lambda self, k, v, *a, _u=update, **kw: (
                seen.add((k.dtype, v.dtype)) or _u(self, k, v, *a, **kw)
            ),
        )
    ctx = contexts(2, n=3)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=where == "autocast"):
        res = run(net, tiny_tokenizer, ctx, engine=engine, cache_implementation=cache)
    want = torch.bfloat16 if where == "bf16_weights" else torch.float32
    assert seen == {(want, want)}
    assert res.parse_rate == 1.0


class EagerGraph(engine.CudaGraphStep):
    """Stands in for a CUDA graph on CPU: warms up (advancing the cache as the real warm-up
    does), then replays by running the step."""

    def __init__(self, step, args, rewind):
        for _ in range(2):
            step(*args)
        rewind()
        self.step = step
        self.cache = step.__self__._cache  # a real graph is bound to this cache's memory

    def __call__(self, *args):
        assert self.step.__self__._cache is self.cache, "a graph replayed on another KV cache"
        return self.step(*args)


@pytest.mark.parametrize("graph", ["works", "fails"])
def test_cuda_graph_path_pads_rewinds_and_falls_back(
    net, tiny_tokenizer, monkeypatch, caplog, graph
):
    """The CUDA-graph wiring on CPU: fixed shapes, the warm-up rewound, one capture per shape
    reused by the next batch; a capture that fails leaves eager decoding with a warning."""
    made = []

    def fake(step, args, rewind):
        made.append(1)
        if graph == "fails":
            raise RuntimeError("no CUDA here")
        return EagerGraph(step, args, rewind)

    monkeypatch.setattr(engine, "CudaGraphStep", fake)
    sampling = dict(temperature=0.7, top_k=5, top_p=0.8)
    eager, ids = decoder_at_step(net, tiny_tokenizer, sampling)
    graphed, _ = decoder_at_step(net, tiny_tokenizer, sampling)
    graphed.cuda_graph = graphed.captured = True  # as on CUDA
    caps = torch.ones(3, dtype=torch.long)
    for prompts in (ids, [ids[0][:8]] * 2):
        want = eager.decode(prompts, 2, caps[: len(prompts)].repeat(2), seed=5)
        got = graphed.decode(prompts, 2, caps[: len(prompts)].repeat(2), seed=5, rows=3)
        assert torch.equal(want, got)
    assert len(made) == 1  # captured once, reused for the second (smaller, padded) batch
    assert ("CUDA-graph capture failed" in caplog.text) == (graph == "fails")


def test_a_new_cache_shape_recaptures_the_graph(net, tiny_tokenizer, monkeypatch):
    """Graphs are captured on a cache's memory: a batch that needs another cache (a longer
    prompt bucket) captures anew, and so does the old shape when it comes back."""
    made = []
    monkeypatch.setattr(
        engine,
        "CudaGraphStep",
        lambda step, args, rewind: made.append(1) or EagerGraph(step, args, rewind),
    )
    graphed, ids = decoder_at_step(net, tiny_tokenizer)
    graphed.cuda_graph = graphed.captured = True
    eager, _ = decoder_at_step(net, tiny_tokenizer)
    long = [tiny_tokenizer("0.5,0.6;" * 9, add_special_tokens=False)["input_ids"]] * 3
    caps = torch.ones(3, dtype=torch.long)
    for prompts in (ids, long, ids):
        assert torch.equal(graphed.decode(prompts, 1, caps, rows=3), eager.decode(prompts, 1, caps))
    assert len(made) == 3


def test_forecasts_with_a_kept_decoders_dict_capture_the_graph_once(
    net, tiny_tokenizer, monkeypatch
):
    """What Forecaster and llmts-bench do on CUDA, on CPU with a stand-in graph: repeated
    forecast() calls sharing a decoders dict (each batch padded to one shape) capture once and
    give the eager texts; without the dict each call captures again."""
    made = []
    monkeypatch.setattr(
        engine,
        "CudaGraphStep",
        lambda step, args, rewind: made.append(1) or EagerGraph(step, args, rewind),
    )
    init = Decoder.__init__

    def as_on_cuda(self, *a, **kw):
        init(self, *a, **kw)
        self.cuda_graph = self.captured = kw.get("cuda_graph", False)

    ctx = contexts(2, n=3)
    eager = run(net, tiny_tokenizer, ctx, batch_size=2, cuda_graphs=False)
    monkeypatch.setattr(Decoder, "__init__", as_on_cuda)
    cfg = compose("model=tiny", "decoding.cuda_graphs=true")
    kept: dict = {}
    codec = Codec.build(cfg.data, tiny_tokenizer)
    for _ in range(2):
        res = forecast(net, codec, ctx, 4, cfg.decoding, batch_size=2, seed=0, decoders=kept)
        assert res.texts == eager.texts
    assert len(made) == 1
    forecast(net, codec, ctx, 4, cfg.decoding, batch_size=2, seed=0)
    assert len(made) == 2


@pytest.mark.parametrize("span", [5, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("samples, heads, kv", [(1, 6, 2), (3, 6, 2), (4, 4, 4)])
def test_shared_prefix_attention_equals_sdpa_over_the_repeated_cache(
    samples, heads, kv, dtype, span
):
    """One position per row: attention over the prompt (one copy per series) and the row's own
    continuation gives SDPA over each row's whole cache, the prompt repeated per sample and
    key/value heads repeated per query head (transformers' layout), left padding and unwritten
    slots masked; a mask over the first ``span`` slots reads only those."""
    from types import SimpleNamespace

    series, width, slots, dim = 3, 7, 5, 8
    rows = series * samples
    gen = torch.Generator().manual_seed(0)
    rand = lambda *shape: torch.randn(*shape, generator=gen).to(dtype)  # noqa: E731
    keys_p, values_p = rand(series, kv, width, dim), rand(series, kv, width, dim)
    key, value, query = (
        rand(rows, kv, slots, dim),
        rand(rows, kv, slots, dim),
        rand(rows, heads, 1, dim),
    )
    pad = torch.tensor([0, 2, 5])
    written = 2  # continuation slots 0..2 hold keys
    prompt_ok = torch.arange(width) >= pad[:, None]  # (n, P)
    slot_ok = (torch.arange(slots) <= written).expand(rows, 1, 1, slots)
    prefix = engine.SharedPrefix(
        [keys_p], [values_p], torch.where(prompt_ok, 0.0, float("-inf"))[:, None, None]
    )
    ours, _ = engine.shared_prefix_attention(
        SimpleNamespace(layer_idx=0),
        query,
        key,
        value,
        slot_ok[..., :span],
        scaling=0.3,
        prefix=prefix,
    )
    full_k = torch.cat([keys_p.repeat_interleave(samples, 0), key], 2)
    full_v = torch.cat([values_p.repeat_interleave(samples, 0), value], 2)
    groups = heads // kv
    ok = torch.cat([prompt_ok.repeat_interleave(samples, 0)[:, None, None], slot_ok], -1)
    ref = torch.nn.functional.scaled_dot_product_attention(
        query.float(),
        full_k.repeat_interleave(groups, 1).float(),
        full_v.repeat_interleave(groups, 1).float(),
        attn_mask=ok,
        scale=0.3,
    ).transpose(1, 2)
    assert ours.shape == (rows, 1, heads, dim) and ours.dtype == dtype
    tol = 1e-6 if dtype == torch.float32 else 2e-2
    assert torch.allclose(ours.float(), ref, atol=tol)


@pytest.mark.parametrize("window, softcap", [(4, None), (9, 2.0), (None, 1.5)])
def test_shared_prefix_attention_applies_a_sliding_window_and_a_softcap(window, softcap):
    """A sliding-window layer (the model passes ``sliding_window`` w) attends to the keys whose
    column is within w of the query's; Gemma 2's ``softcap`` caps the scores before the
    softmax: equal to softmax over the whole row's keys with both applied by hand."""
    from types import SimpleNamespace

    series, samples, heads, kv, width, slots, dim = 2, 2, 4, 2, 6, 4, 8
    rows, written = series * samples, 2  # slots 0..2 hold keys: the query is slot 2
    gen = torch.Generator().manual_seed(1)
    rand = lambda *shape: torch.randn(*shape, generator=gen)  # noqa: E731
    keys_p, values_p = rand(series, kv, width, dim), rand(series, kv, width, dim)
    key, value, query = (
        rand(rows, kv, slots, dim),
        rand(rows, kv, slots, dim),
        rand(rows, heads, 1, dim),
    )
    pad = torch.tensor([0, 3])
    prompt_ok = torch.arange(width) >= pad[:, None]
    slot_ok = (torch.arange(slots) <= written).expand(rows, 1, 1, slots)
    bias = torch.where(prompt_ok, 0.0, float("-inf"))[:, None, None]
    column = torch.tensor(width + written)
    ours, _ = engine.shared_prefix_attention(
        SimpleNamespace(layer_idx=0),
        query,
        key,
        value,
        slot_ok,
        scaling=0.3,
        prefix=engine.SharedPrefix([keys_p], [values_p], bias),
        column=column,
        sliding_window=window,
        softcap=softcap,
    )
    full_k = torch.cat([keys_p.repeat_interleave(samples, 0), key], 2).repeat_interleave(2, 1)
    full_v = torch.cat([values_p.repeat_interleave(samples, 0), value], 2).repeat_interleave(2, 1)
    scores = query @ full_k.transpose(-1, -2) * 0.3  # (R, H, 1, P + N)
    if softcap:
        scores = softcap * torch.tanh(scores / softcap)
    ok = torch.cat([prompt_ok.repeat_interleave(samples, 0)[:, None, None], slot_ok], -1)
    if window:
        ok = ok & (column - torch.arange(width + slots) < window)
    ref = (scores.masked_fill(~ok, float("-inf")).softmax(-1) @ full_v).transpose(1, 2)
    assert torch.allclose(ours, ref, atol=1e-6)


def test_decode_steps_repeat_no_kv_head_and_the_model_gets_its_attention_back(
    net, tiny_tokenizer, monkeypatch
):
    """Only the prefill (the model's own SDPA) repeats key/value heads; after decoding, also a
    failed one, the model attends with its own implementation again."""
    import transformers.integrations.sdpa_attention as hf_sdpa

    repeats = []
    original = hf_sdpa.repeat_kv
    monkeypatch.setattr(
        hf_sdpa, "repeat_kv", lambda x, n: repeats.append(x.shape[2]) or original(x, n)
    )
    assert net.config.num_key_value_heads < net.config.num_attention_heads
    dec, ids = decoder_at_step(net, tiny_tokenizer, None)
    out = dec.decode(ids, 1, torch.ones(len(ids), dtype=torch.long))
    width = max(map(len, ids))
    layers = net.config.num_hidden_layers
    assert out.shape[1] == dec.max_new and repeats == [width] * (2 * layers)  # K and V, prefill
    assert net.config._attn_implementation == "sdpa"

    def broken(*a, **kw):
        raise RuntimeError("boom")

    dec._step = broken  # fails inside a decode step, with the decode attention set
    with pytest.raises(RuntimeError, match="boom"):
        dec.decode(ids, 1, torch.ones(len(ids), dtype=torch.long))
    assert net.config._attn_implementation == "sdpa"
