"""Every family of causal LM (tests/helpers/families.py: tiny random models saved as local
folders, as ``model.path=DIR`` holds them) trains, resumes, forecasts with both engines and
serves ``Forecaster``; its speed paths are found once at load; its FLOPs plan is its own."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from llmts.errors import LlmtsError
from tests.helpers import QWEN_TOKENIZER, compose, digit_pair_tokenizer
from tests.helpers.families import FAMILIES, save_family_model

SMOKE = (
    "experiment=smoke",
    "model.source=pretrained",
    "data.num_series=24",
    "data.context_length=64",
    "train.batch_size=2",
    "eval.num_series=2",
)


def family_tokenizer(family: str):
    """The shipped mini tokenizer; the real Qwen2 one for qwen2 (where it is present); a BPE
    that merges digit pairs for GPT-2 and GPT-NeoX (their codec then spaces digits)."""
    from transformers import AutoTokenizer

    if family in ("gpt2", "gpt_neox"):
        return digit_pair_tokenizer()
    if family == "qwen2" and QWEN_TOKENIZER.is_dir():
        return AutoTokenizer.from_pretrained(QWEN_TOKENIZER, padding_side="left")
    return None  # save_family_model's default: the mini model's


@pytest.fixture(scope="module", params=list(FAMILIES))
def family(request, tmp_path_factory):
    """(name, folder) of one family's tiny model, built once per module."""
    name = request.param
    folder = tmp_path_factory.mktemp(name)
    return name, save_family_model(name, folder, family_tokenizer(name))


def model_overrides(folder, *more: str) -> tuple[str, ...]:
    return (*SMOKE, f"model.path={folder}", f"model.name={folder.name}", *more)


def series(n: int = 3, steps: int = 30) -> np.ndarray:
    from llmts.data.series import simulate_lotka_volterra

    return simulate_lotka_volterra(n, steps, 60.0, seed=4)[0].astype(np.float64)


def test_trains_resumes_and_serves_forecaster(family, tmp_path):
    """2 training steps, then a resumed third, each run forecasting its test series with parse
    rate 1; Forecaster.from_run serves the run, greedy and sampled."""
    from llmts import Forecaster
    from llmts.recipes.finetune import finetune as run

    _, folder = family
    first = compose(*model_overrides(folder, "train.max_steps=2", "train.save_every=2"))
    (tmp_path / ".hydra").mkdir()
    OmegaConf.save(first, tmp_path / ".hydra" / "config.yaml")
    metrics = run(first, tmp_path)
    assert metrics["parse_rate"] == 1.0 and (tmp_path / "checkpoints" / "step-2").is_dir()
    resumed = compose(*model_overrides(folder, "train.max_steps=3", "train.resume=auto"))
    metrics = run(resumed, tmp_path)
    assert metrics["parse_rate"] == 1.0 and (tmp_path / "checkpoints" / "step-3").is_dir()
    fc = Forecaster.from_run(tmp_path)
    x = series()
    assert fc.predict(x, 4).parse_rate == 1.0
    sampled = fc.predict(x, 4, num_samples=3)
    assert sampled.parse_rate == 1.0 and sampled.samples.shape == (3, 3, 4, 2)


@pytest.mark.parametrize("sampled", [False, True])
def test_both_engines_forecast_every_family(family, sampled):
    """llmts's decode loop (shared prompt, sliding windows applied in its masks) gives the same
    greedy texts as Hugging Face generate; sampled draws (3 per series) parse in both."""
    from llmts.codec.codec import Codec
    from llmts.codec.tokenizer import load_tokenizer
    from llmts.forecast.batch import forecast
    from llmts.forecast.engine import unsupported
    from llmts.model.build import load_base_model

    _, folder = family
    decoding = ("decoding=sampling", "decoding.num_samples=3") if sampled else ()
    cfg = compose(*model_overrides(folder, *decoding))
    model = load_base_model(cfg.model, 0).eval()
    assert unsupported(model) is None  # the llmts engine runs it (no fallback to hf)
    codec = Codec.build(cfg.data, load_tokenizer(cfg.model))
    x = series(4, 24)  # prompts longer than the sliding windows (16 tokens)
    out = {}
    for engine in ("llmts", "hf"):
        dec = cfg.decoding.copy()
        dec.engine = engine
        out[engine] = forecast(model, codec, x, 5, dec, batch_size=6, seed=1)
        assert out[engine].parse_rate == 1.0, (engine, out[engine].texts)
    if not sampled:
        assert out["llmts"].texts == out["hf"].texts


def test_speed_paths_are_found_once_at_load(family):
    """Prepared-mask dicts where the model reads them (Qwen2/3, Gemma), the plain 4-D mask
    elsewhere; sliding layers and windows from the config; the training loss passes the
    causal-only dict only to a model that takes it."""
    from llmts.model.build import capabilities, load_base_model
    from llmts.train.loss import CausalLMLoss, causal_only

    name, folder = family
    model = load_base_model(compose(*model_overrides(folder)).model, 0)
    caps = model.llmts_capabilities  # set by the load
    assert capabilities(model) is caps
    dicts = {"qwen2", "qwen3", "gemma2", "gemma3"}
    assert caps.prepared_masks == (name in dicts), caps
    mixed = {"full_attention", "sliding_attention"}
    kinds = {"gemma2": mixed, "gemma3": mixed, "mistral": {"sliding_attention"}}
    assert set(caps.layer_types) == kinds.get(name, {"full_attention"})
    assert caps.sliding_window == (16 if name in kinds else None)
    sdpa = model.config._attn_implementation == "sdpa"
    fast = caps.prepared_masks and caps.full_attention_only and sdpa
    assert (causal_only(model) is not None) == fast
    ids = torch.randint(0, model.config.vocab_size, (2, 24))
    labels = ids.clone()
    loss = CausalLMLoss(model, 0)(ids, None, labels)
    full = CausalLMLoss(model, 0)(ids, torch.ones_like(ids), labels)
    assert torch.allclose(loss, full, atol=1e-5)


def test_planned_forward_flops_are_the_models_own(family):
    """The plan reads the folder's config.json: its forward FLOPs are within 10 % of
    FlopCounterMode's count on the model (eager attention, so the score matmuls are counted),
    and a layout the accounting does not know (OLMo) is counted on the meta device."""
    from transformers import AutoModelForCausalLM

    from llmts.model.layout import known
    from llmts.perf.flops import architecture, counted_flops, flops_plan

    name, folder = family
    cfg = compose(*model_overrides(folder))
    b, length = 2, 64
    plan = flops_plan(cfg.model, cfg.lora, b, length, 1)
    assert known(architecture(cfg.model)) == (name != "olmo")
    model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()
    ids = torch.randint(0, model.config.vocab_size, (b, length))
    with torch.no_grad():
        counted = counted_flops(lambda: model(input_ids=ids, use_cache=False))
    assert abs(plan["gqa/forward"] - counted) / counted < 0.10, (plan["gqa/forward"], counted)
    assert plan["lora_step"] > 0


def test_a_lora_target_the_model_lacks_is_one_line(family):
    from llmts.model.build import build_model

    name, folder = family
    cfg = compose(*model_overrides(folder, "lora.target_modules=[not_a_layer]"))
    with pytest.raises(LlmtsError, match="not_a_layer not in this") as err:
        build_model(cfg.model, cfg.lora, 0)
    assert "its linear layers: " in str(err.value) and "\n" not in str(err.value)


def test_the_head_bias_trains_on_tied_and_untied_heads(family):
    """The study's head bias: a trainable fp32 zero bias on the model's own head weight, which
    stays the embeddings' tensor where the head is tied and its own where it is not."""
    from llmts.model.build import build_model

    _, folder = family
    cfg = compose(*model_overrides(folder))
    model = build_model(cfg.model, cfg.lora, 0)
    head, emb = model.get_output_embeddings(), model.get_input_embeddings()
    tied = bool(model.get_base_model().config.tie_word_embeddings)
    assert (head.weight is emb.weight) == tied
    assert head.bias.requires_grad and not head.weight.requires_grad
    assert head.bias.dtype == torch.float32 and not head.bias.any()


@pytest.mark.slow  # dynamo traces each family's decode step and training loss
@pytest.mark.parametrize("sampled", [False, True], ids=["greedy", "sampled"])
def test_gpu_paths_run_on_cpu_for_every_family(family, sampled):
    """What a GPU run does to each family, proven on CPU: the decode step compiled whole
    (``fullgraph``: a graph break is an error; backend eager, as a CUDA graph needs one graph)
    picks the same tokens as the eager step; the training loss compiled whole
    (``train.compile=step``) equals the eager loss, and under bf16 autocast stays close to it;
    bf16 weights forecast with parse rate 1 on llmts's engine."""
    from llmts.codec.codec import Codec
    from llmts.codec.tokenizer import load_tokenizer
    from llmts.forecast.batch import forecast
    from llmts.forecast.engine import Decoder
    from llmts.model.build import load_base_model
    from llmts.train.loss import CausalLMLoss

    _, folder = family
    decoding = ("decoding=sampling", "decoding.num_samples=2") if sampled else ()
    cfg = compose(*model_overrides(folder, *decoding))
    model = load_base_model(cfg.model, 0).eval()
    codec = Codec.build(cfg.data, load_tokenizer(cfg.model))
    x = series(3, 12)
    scaling = [codec.scaling(c) for c in x]
    texts = [codec.encode(c, a, o) for c, (a, o) in zip(x, scaling)]
    ids = codec.tokenizer(texts, add_special_tokens=False)["input_ids"]
    sampling = dict(temperature=0.7, top_k=5, top_p=0.8) if sampled else None
    built = {
        name: Decoder(
            model,
            codec.grammar(2, 3, 1),
            codec.max_new_tokens(2, 3, 1),
            codec.tokenizer.pad_token_id,
            sampling=sampling,
            compile=compile,
        )
        for name, compile in (
            ("eager", None),
            ("compiled", dict(backend="eager", fullgraph=True, dynamic=False)),
        )
    }
    torch._dynamo.reset()
    caps = torch.ones(3 * (2 if sampled else 1), dtype=torch.long)
    samples = 2 if sampled else 1
    assert torch.equal(
        built["eager"].decode(ids, samples, caps, seed=5),
        built["compiled"].decode(ids, samples, caps, seed=5, rows=3),
    )

    batch = torch.tensor([ids[0][:24], ids[1][:24]])
    loss = CausalLMLoss(model)
    with torch.no_grad():
        eager = loss(batch, None, batch)
        compiled = torch.compile(loss, fullgraph=True, backend="eager")(batch, None, batch)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = loss(batch, None, batch)
    torch.testing.assert_close(compiled, eager)
    assert torch.isfinite(bf16) and abs(bf16.item() - eager.item()) < 0.05 * eager.item()

    half = load_base_model(compose(*model_overrides(folder, "model.dtype=bfloat16")).model, 0)
    assert next(half.parameters()).dtype == torch.bfloat16
    res = forecast(half.eval(), codec, x, 3, cfg.decoding, batch_size=6, seed=1)
    assert res.parse_rate == 1.0, res.texts
