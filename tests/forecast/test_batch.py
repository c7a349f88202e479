import numpy as np
import pytest
import torch

from llmts.codec.codec import Codec
from llmts.data.series import simulate_lotka_volterra
from llmts.forecast.batch import forecast
from llmts.model.build import build_model
from tests.helpers import compose


@pytest.fixture(scope="module")
def setup(tiny_tokenizer):
    cfg = compose("model=tiny")
    model = build_model(cfg.model, cfg.lora, cfg.seed)
    series, _ = simulate_lotka_volterra(6, 30, 60.0, seed=3)
    return cfg, model, series[:, :24]


def run(setup, tok, contexts=None, batch_size=32, seed=0, **decoding):
    cfg, model, ctx = setup
    dec = compose("model=tiny", *(f"decoding.{k}={v}" for k, v in decoding.items())).decoding
    return forecast(
        model,
        Codec.build(cfg.data, tok),
        ctx if contexts is None else contexts,
        5,
        dec,
        batch_size=batch_size,
        seed=seed,
    )


def test_batched_greedy_equals_one_series_at_a_time(setup, tiny_tokenizer):
    """Also when the series of a batch need different integer digits (each row its own cap)."""
    from llmts.codec.llmtime import integer_digits, scale_of

    ctx = setup[2].copy()
    ctx[0, 3] *= 40  # one spike: series 0 needs two integer digits, the others one
    assert integer_digits(ctx, np.array([scale_of(c) for c in ctx])).tolist()[:2] == [2, 1]
    batched = run(setup, tiny_tokenizer, contexts=ctx, batch_size=6)
    single = [run(setup, tiny_tokenizer, contexts=ctx[i : i + 1], batch_size=1) for i in range(6)]
    assert np.array_equal(batched.samples[:, 0], np.concatenate([s.samples[:, 0] for s in single]))
    assert batched.texts == [s.texts[0] for s in single]


def test_constrained_untrained_model_parses_every_step(setup, tiny_tokenizer):
    res = run(setup, tiny_tokenizer)
    assert res.parse_rate == 1.0 and res.filled_steps == 0 and res.malformed_steps == 0
    assert np.isfinite(res.samples).all()


def test_the_integer_part_is_capped_by_the_series_own_context(setup, tiny_tokenizer):
    """A model that always prefers '9' writes as many integer digits as the grammar lets it:
    as many as the largest scaled value of that series' context has (2 for a series with a
    spike, 1 for the other), so a forecast stays below 100x (10x) its context's scale."""
    import copy

    from llmts.codec.llmtime import scale_of

    cfg, model, ctx = setup
    ctx = ctx[:2].copy()
    ctx[0, 3] *= 40
    scales = np.array([scale_of(c) for c in ctx])
    digits = np.array([len(str(int(np.abs(c).max() / a))) for c, a in zip(ctx, scales)])
    assert digits.tolist() == [2, 1]
    nines = copy.deepcopy(model)
    bias = next(p for n, p in nines.named_parameters() if n.endswith("lm_head.bias"))
    with torch.no_grad():
        bias[tiny_tokenizer.convert_tokens_to_ids("9")] += 1e4
    res = forecast(
        nines, Codec.build(cfg.data, tiny_tokenizer), ctx, 3, cfg.decoding, batch_size=32, seed=0
    )
    assert res.parse_rate == 1.0
    top = np.abs(res.samples[:, 0]).max(axis=(1, 2)) / scales
    np.testing.assert_allclose(top, 10.0**digits - 0.01, rtol=1e-9)  # 99.99 and 9.99


def test_unconstrained_is_the_raw_behaviour(setup, tiny_tokenizer):
    res = run(setup, tiny_tokenizer, constrained=False)
    assert res.samples.shape == (6, 1, 5, 2) and np.isfinite(res.samples).all()
    assert res.parse_rate < 1.0  # a random model writes garbage without the grammar


def test_sampling_is_seeded_and_reproducible(setup, tiny_tokenizer):
    kw = dict(do_sample=True, temperature=0.7, top_k=20, top_p=0.8, num_samples=4)
    a = run(setup, tiny_tokenizer, seed=1, **kw)
    b = run(setup, tiny_tokenizer, seed=1, **kw)
    c = run(setup, tiny_tokenizer, seed=2, **kw)
    assert a.samples.shape == (6, 4, 5, 2)
    assert np.array_equal(a.samples, b.samples) and not np.array_equal(a.samples, c.samples)
    assert a.parse_rate == 1.0
    assert (a.samples.std(axis=1) > 0).any()  # samples differ from each other


def test_numeric_output_vocab_gives_the_same_constrained_greedy_forecasts(setup, tiny_tokenizer):
    from llmts.model.build import numeric_token_ids, restrict_output_vocab

    cfg, _, ctx = setup
    full = build_model(cfg.model, cfg.lora, cfg.seed)
    numeric = build_model(cfg.model, cfg.lora, cfg.seed)
    restrict_output_vocab(numeric, numeric_token_ids(Codec(tiny_tokenizer)))
    a = run((cfg, full, ctx), tiny_tokenizer)
    b = run((cfg, numeric, ctx), tiny_tokenizer)
    assert a.texts == b.texts and np.array_equal(a.samples, b.samples)


@pytest.mark.parametrize(
    "kw",
    [{}, dict(do_sample=True, temperature=0.7, top_k=20, top_p=0.8, num_samples=3)],
    ids=["greedy", "sampling"],
)
def test_hf_static_cache_gives_the_same_forecasts_as_the_dynamic_cache(
    setup, tiny_tokenizer, kw, monkeypatch
):
    from transformers.cache_utils import StaticCache

    made = []
    init = StaticCache.__init__
    monkeypatch.setattr(
        StaticCache, "__init__", lambda self, *a, **k: made.append(1) or init(self, *a, **k)
    )
    static = run(setup, tiny_tokenizer, engine="hf", cache_implementation="static", **kw)
    assert made  # generate really used a static cache
    made.clear()
    dynamic = run(setup, tiny_tokenizer, engine="hf", cache_implementation="dynamic", **kw)
    assert not made
    assert static.texts == dynamic.texts and np.array_equal(static.samples, dynamic.samples)


def test_per_variable_scaling_records_each_alpha(setup, tiny_tokenizer):
    cfg, model, ctx = setup
    ctx = ctx * np.array([1.0, 1000.0])  # variables 3 orders of magnitude apart
    data = compose("model=tiny", "data.scale=per_variable").data
    res = forecast(
        model, Codec.build(data, tiny_tokenizer), ctx, 5, cfg.decoding, batch_size=32, seed=0
    )
    np.testing.assert_allclose(res.scales, np.percentile(np.abs(ctx), 95, axis=1))
    joint = forecast(
        model, Codec.build(cfg.data, tiny_tokenizer), ctx, 5, cfg.decoding, batch_size=32, seed=0
    )
    np.testing.assert_allclose(joint.scales[:, 0], joint.scales[:, 1])
    assert res.parse_rate == 1.0
    # every value decodes with its own variable's α: forecasts sit at each variable's magnitude
    assert np.abs(res.samples[..., 1]).max() > 10 * np.abs(res.samples[..., 0]).max()


def test_contexts_with_gaps_forecast_finite_values_and_never_write_nan(setup, tiny_tokenizer):
    cfg, model, ctx = setup
    gappy = ctx.astype(np.float64).copy()
    gappy[:, ::3, 0] = np.nan
    gappy[0, -1] = np.nan  # even the last step
    data = compose("model=tiny", "data.missing=encode").data
    res = forecast(
        model, Codec.build(data, tiny_tokenizer), gappy, 5, cfg.decoding, batch_size=32, seed=0
    )
    assert np.isfinite(res.samples).all() and res.parse_rate == 1.0
    assert not any("N" in t for t in res.texts)
    assert np.isfinite(res.scales).all()


def test_a_list_of_different_lengths_equals_one_series_at_a_time(setup, tiny_tokenizer):
    cfg, model, ctx = setup
    contexts = [ctx[0], ctx[1, :15], ctx[2, :9]]
    together = forecast(
        model,
        Codec.build(cfg.data, tiny_tokenizer),
        contexts,
        5,
        cfg.decoding,
        batch_size=32,
        seed=0,
    )
    for i, c in enumerate(contexts):
        alone = forecast(
            model,
            Codec.build(cfg.data, tiny_tokenizer),
            c[None],
            5,
            cfg.decoding,
            batch_size=32,
            seed=0,
        )
        assert together.texts[i] == alone.texts[0]
        np.testing.assert_array_equal(together.samples[i], alone.samples[0])


def test_spaced_digits_decode_with_a_tokenizer_that_merges_them(setup):
    from tests.helpers import digit_pair_tokenizer

    tok = digit_pair_tokenizer()
    cfg = compose("model=tiny", f"model.vocab_size={len(tok)}", "data.digit_separator=' '")
    model = build_model(cfg.model, cfg.lora, cfg.seed)
    for engine in ("llmts", "hf"):
        dec = compose("model=tiny", f"decoding.engine={engine}").decoding
        res = forecast(model, Codec.build(cfg.data, tok), setup[2], 5, dec, batch_size=32, seed=0)
        assert res.parse_rate == 1.0, engine
        assert all(t.startswith(" ") and "  " not in t for t in res.texts)


def test_a_kept_decoders_dict_builds_each_decode_loop_once(setup, tiny_tokenizer, monkeypatch):
    """``Forecaster`` and ``llmts-bench`` keep a dict of decode loops: a call with the same
    grammar, model and tokenizer reuses the earlier loop (on CUDA, its captured graph) and
    forecasts the same; another horizon or another model gets its own."""
    import copy

    from llmts.forecast import engine

    made = []
    init = engine.Decoder.__init__
    monkeypatch.setattr(
        engine.Decoder, "__init__", lambda self, *a, **k: made.append(1) or init(self, *a, **k)
    )
    cfg, model, ctx = setup
    ctx, kept = ctx[:2], {}
    codec = Codec.build(cfg.data, tiny_tokenizer)

    def call(net=model, horizon=5):
        return forecast(
            net, codec, ctx, horizon, cfg.decoding, batch_size=32, seed=0, decoders=kept
        )

    fresh = forecast(
        model, Codec.build(cfg.data, tiny_tokenizer), ctx, 5, cfg.decoding, batch_size=32, seed=0
    )
    first, again = call(), call()
    assert len(made) == 2 and fresh.texts == first.texts == again.texts
    call(net=copy.deepcopy(model))  # the same key, another model
    assert len(made) == 3
    call(horizon=3)
    assert len(made) == 4 and len(kept) == 1  # one decoder (one KV cache) kept at a time


def test_a_model_the_decode_loop_cannot_run_is_forecast_by_generate(setup, tiny_tokenizer, caplog):
    """The plain path: a model whose attention does not go through transformers'
    AttentionInterface (its capabilities, found at load) gets Hugging Face generate's
    forecasts under decoding.engine=llmts, said once in the log; the loop itself refuses it."""
    from dataclasses import replace

    from llmts.errors import LlmtsError
    from llmts.forecast.engine import Decoder
    from llmts.model.build import base_model, build_model, capabilities

    cfg = compose("model=tiny")
    plain = build_model(cfg.model, cfg.lora, cfg.seed)
    base_model(plain).llmts_capabilities = replace(capabilities(plain), attention_backend=False)
    with caplog.at_level("INFO", logger="llmts.forecast.batch"):
        ours = run((cfg, plain, setup[2]), tiny_tokenizer, engine="llmts")
        again = run((cfg, plain, setup[2]), tiny_tokenizer, engine="llmts")
    told = [r for r in caplog.records if "engine=hf for this model" in r.getMessage()]
    assert len(told) == 1 and "AttentionInterface" in told[0].getMessage()
    hf = run(setup, tiny_tokenizer, engine="hf")
    assert ours.texts == hf.texts == again.texts and ours.parse_rate == 1.0
    with pytest.raises(LlmtsError, match="use decoding.engine=hf"):
        Decoder(plain, Codec.build(cfg.data, tiny_tokenizer).grammar(2, 5, 3), 40, 0)
