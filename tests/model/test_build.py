import pytest
import torch

from llmts.model.build import build_model, count_parameters
from tests.helpers import compose

X = torch.tensor([[15, 13, 18, 18, 11, 15, 13, 18, 21, 26, 15, 13, 17, 21, 11]])


def tiny(*overrides):
    cfg = compose("model=tiny", *overrides)
    return cfg, build_model(cfg.model, cfg.lora, cfg.seed)


def test_lora_trains_only_adapters_and_the_tied_head_bias():
    cfg, model = tiny()
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n or n.endswith("lm_head.bias") for n in names)
    assert any("q_proj" in n for n in names) and any("v_proj" in n for n in names)
    assert not any("k_proj" in n or "o_proj" in n for n in names)
    head, emb = model.get_output_embeddings(), model.get_input_embeddings()
    assert head.weight is emb.weight  # still tied: no copy of the head
    assert head.bias.requires_grad and not head.weight.requires_grad
    trainable, total = count_parameters(model)
    layers, d, r = cfg.model.num_hidden_layers, cfg.model.hidden_size, cfg.lora.r
    kv = d // cfg.model.num_attention_heads * cfg.model.num_key_value_heads
    assert trainable == layers * r * ((d + d) + (d + kv)) + cfg.model.vocab_size


def test_target_modules_and_full_finetuning():
    _, model = tiny("lora.target_modules=[q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj]")
    names = " ".join(n for n, p in model.named_parameters() if p.requires_grad)
    assert all(m in names for m in ("k_proj", "o_proj", "gate_proj", "up_proj", "down_proj"))
    _, full = tiny("lora=none")
    trainable, total = count_parameters(full)
    assert trainable == total


def test_unavailable_pretrained_model_is_one_clear_line(tmp_path):
    from llmts.errors import LlmtsError

    cfg = compose(f"model.path={tmp_path / 'missing'}")
    with pytest.raises(LlmtsError, match="try model=tiny"):
        from llmts.model.build import load_base_model

        load_base_model(cfg.model, 0)


def test_bf16_base_keeps_trainable_params_fp32_and_matches_fp32_loss():
    """The GPU fast path's memory layout, checked on CPU: model.dtype=bfloat16 stores the frozen
    base in bf16 while LoRA A/B and the lm_head bias stay fp32 (peft upcasts adapters), and under
    bf16 autocast its loss matches the fp32 model's to bf16 precision and trains the fp32 params;
    without autocast it still runs (the fp32 bias is cast to the weight's dtype)."""
    from llmts.train.loss import CausalLMLoss

    cfg = compose("model=tiny")
    ids = torch.randint(11, 27, (2, 48), generator=torch.Generator().manual_seed(0))
    batch = dict(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids)
    full = build_model(cfg.model, cfg.lora, 0)
    half = build_model(compose("model=tiny", "model.dtype=bfloat16").model, cfg.lora, 0)
    trainable = {n: p for n, p in half.named_parameters() if p.requires_grad}
    frozen = [p for p in half.parameters() if not p.requires_grad]
    assert trainable and all(p.dtype == torch.float32 for p in trainable.values())
    assert any("lora_A" in n for n in trainable) and any(n.endswith("bias") for n in trainable)
    assert frozen and all(p.dtype == torch.bfloat16 for p in frozen)
    reference = CausalLMLoss(full, 0)(**batch)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = CausalLMLoss(half, 4096)(**batch)
    assert loss.dtype == torch.float32
    assert abs(loss.item() - reference.item()) < 0.02 * reference.item()
    loss.backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in trainable.values())
    assert all(p.grad is None for p in frozen)
    # and it runs without autocast too (CPU eval, train.precision=no): the fp32 bias is cast
    from llmts.codec.codec import Codec
    from llmts.codec.tokenizer import build_tiny_tokenizer
    from llmts.data.series import simulate_lotka_volterra
    from llmts.forecast.batch import forecast

    with torch.no_grad():
        assert torch.isfinite(half(input_ids=ids).logits).all()
    series, _ = simulate_lotka_volterra(3, 12, 24.0, seed=0)
    res = forecast(
        half,
        Codec.build(cfg.data, build_tiny_tokenizer()),
        series[:, :8],
        2,
        cfg.decoding,
        batch_size=8,
        seed=0,
    )
    assert res.parse_rate == 1.0


def test_numeric_head_keeps_the_missing_field_and_spaced_tokens(tiny_tokenizer):
    from llmts.codec.codec import Codec
    from llmts.model.build import numeric_token_ids
    from tests.helpers import digit_pair_tokenizer

    plain = set(numeric_token_ids(Codec(tiny_tokenizer)))
    gaps = set(numeric_token_ids(Codec(tiny_tokenizer, missing=True)))
    assert gaps - plain == set(tiny_tokenizer.encode("NaN", add_special_tokens=False))
    merging = digit_pair_tokenizer()
    spaced = set(numeric_token_ids(Codec(merging, separator=" ")))
    assert {
        merging.encode(" " + c, add_special_tokens=False)[0] for c in "0123456789,.;-"
    } <= spaced


def test_random_model_on_cpu_is_todays_seeded_model():
    """On the CPU the seeded weights are exactly those of the classic construction (manual_seed,
    then Qwen2ForCausalLM with torch's and transformers' init), and the caller's RNG is left
    as it was."""
    from transformers import Qwen2ForCausalLM

    from llmts.model.build import load_base_model, qwen2_config

    cfg = compose("model=tiny").model
    torch.manual_seed(123)
    state = torch.get_rng_state()
    new = load_base_model(cfg, 7, device="cpu").state_dict()
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(7)
    old = Qwen2ForCausalLM(qwen2_config(cfg)).state_dict()
    assert new.keys() == old.keys() and all(torch.equal(new[k], old[k]) for k in old)


def test_build_on_device_skips_the_cpu_init_pass_and_gives_the_same_model(monkeypatch):
    """The meta-device path (used for GPUs; run here on the CPU): no torch default init (no
    kaiming pass), then transformers' init once: same tensors, dtypes, tying and RoPE buffers
    as the classic model, norms 1, biases 0, matrices with std initializer_range; seeded."""
    from transformers import Qwen2ForCausalLM

    from llmts.model.build import build_on_device, qwen2_config

    cfg = compose("model=tiny", "model.hidden_size=256", "model.intermediate_size=1024").model
    calls = []
    real = torch.nn.init.kaiming_uniform_
    monkeypatch.setattr(
        torch.nn.init,
        "kaiming_uniform_",  # counts inits that draw numbers
        lambda tensor, *a, **kw: calls.append(tensor.is_meta) or real(tensor, *a, **kw),
    )
    model = build_on_device(cfg, 3, torch.device("cpu"))
    assert calls and all(calls)  # the constructor's default init ran on meta tensors only
    calls.clear()
    classic = Qwen2ForCausalLM(qwen2_config(cfg))
    assert calls and not any(calls)  # the counter sees the classic constructor's real draws
    new, old = model.state_dict(), classic.state_dict()
    assert [(k, v.shape, v.dtype) for k, v in new.items()] == [
        (k, v.shape, v.dtype) for k, v in old.items()
    ]
    assert model.lm_head.weight is model.model.embed_tokens.weight
    for (name, a), b in zip(model.named_buffers(), classic.buffers()):
        assert torch.equal(a, b), name
    std = qwen2_config(cfg).initializer_range
    for name, t in new.items():
        if name.endswith("norm.weight"):
            assert torch.equal(t, torch.ones_like(t)), name
        elif name.endswith("bias"):
            assert torch.equal(t, torch.zeros_like(t)), name
        elif t.numel() >= 2**16:  # enough draws for the std to be within 2%
            assert abs(t.std().item() / std - 1) < 0.02 and abs(t.mean().item()) < 1e-3, name
    again = build_on_device(cfg, 3, torch.device("cpu")).state_dict()
    other = build_on_device(cfg, 4, torch.device("cpu")).state_dict()
    assert all(torch.equal(new[k], again[k]) for k in new)
    assert not torch.equal(new["model.embed_tokens.weight"], other["model.embed_tokens.weight"])
    assert torch.isfinite(model(input_ids=X).logits).all()


def test_a_random_model_with_a_path_takes_that_models_shape():
    """random_init of a pretrained folder (llmts-benchmark's ablation): the folder's architecture
    with fresh seeded weights, never the schema's default numbers (Qwen2.5-0.5B's)."""
    from llmts.model.build import load_base_model, model_config, random_model

    mini = compose("model=mini")
    pretrained = load_base_model(mini.model, 0)
    cfg = compose("model=mini", "model.source=random").model
    fresh, again = random_model(cfg, 0), random_model(cfg, 0)
    assert model_config(cfg).hidden_size == pretrained.config.hidden_size
    shapes = {k: v.shape for k, v in pretrained.state_dict().items()}
    assert {k: v.shape for k, v in fresh.state_dict().items()} == shapes
    assert all(torch.equal(a, b) for a, b in zip(fresh.parameters(), again.parameters()))
    assert not torch.equal(fresh.model.embed_tokens.weight, pretrained.model.embed_tokens.weight)
