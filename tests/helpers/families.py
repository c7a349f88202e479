"""Tiny random causal LMs of each family the issue names, saved as local folders with a
tokenizer, as a user's ``model.path=DIR`` would hold them (no network)."""

from __future__ import annotations

from pathlib import Path

# family -> (transformers config class, its keyword arguments): 2 layers, hidden 64, 4 query
# heads; grouped-query where the family has it; tied and untied heads both appear; sliding
# windows (Mistral: every layer; Gemma: every other) shorter than the prompts.
LAYERS = ["sliding_attention", "full_attention"]
COMMON = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)
FAMILIES: dict[str, tuple[str, dict]] = {
    "qwen2": ("Qwen2Config", dict(COMMON, num_key_value_heads=2, tie_word_embeddings=True)),
    "qwen3": ("Qwen3Config", dict(COMMON, num_key_value_heads=2, head_dim=16)),
    "llama": ("LlamaConfig", dict(COMMON, num_key_value_heads=2, tie_word_embeddings=False)),
    "mistral": ("MistralConfig", dict(COMMON, num_key_value_heads=1, sliding_window=16)),
    "gemma2": (
        "Gemma2Config",
        dict(COMMON, num_key_value_heads=2, head_dim=32, sliding_window=16),
    ),
    "gemma3": (
        "Gemma3TextConfig",
        dict(COMMON, num_key_value_heads=2, head_dim=16, sliding_window=16, layer_types=LAYERS),
    ),
    "phi3": ("Phi3Config", dict(COMMON, num_key_value_heads=2, tie_word_embeddings=False)),
    "gpt2": ("GPT2Config", dict(n_embd=64, n_layer=2, n_head=4, n_positions=1024)),
    "gpt_neox": ("GPTNeoXConfig", dict(COMMON, tie_word_embeddings=False)),
    # a layout llmts's FLOPs accounting does not know: planned by FlopCounterMode on meta
    "olmo": ("OlmoConfig", dict(COMMON, num_key_value_heads=2)),
}
MINI_TOKENIZER = Path(__file__).resolve().parents[2] / "llmts" / "model" / "weights" / "mini"


def family_config(family: str, vocab_size: int, **changes):
    """The transformers config of a tiny ``family`` model over ``vocab_size`` tokens."""
    import transformers

    name, kwargs = FAMILIES[family]
    kwargs = {**kwargs, **changes, "vocab_size": vocab_size}
    for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
        kwargs.setdefault(key, None)
    kwargs.setdefault("max_position_embeddings", 1024)
    if family == "gpt2":
        kwargs.pop("max_position_embeddings")
    return getattr(transformers, name)(**kwargs)


def save_family_model(family: str, folder: Path, tokenizer=None, seed: int = 0, **changes) -> Path:
    """``folder`` holding a random-weight ``family`` model and ``tokenizer`` (default: the
    shipped mini model's), saved with ``save_pretrained``; returns ``folder``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = tokenizer or AutoTokenizer.from_pretrained(MINI_TOKENIZER)
    ids = dict(pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=None)
    config = family_config(family, len(tok), **{**ids, **changes})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
