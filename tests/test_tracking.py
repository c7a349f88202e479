"""Tracking helpers that need no W&B run."""

from llmts.tracking import setting_of


def test_setting_of_drops_only_the_seed():
    assert setting_of("optimizer.lr=1e-4,seed=2") == "optimizer.lr=1e-4"
    assert setting_of("seed=3,lora.r=4,optimizer.lr=1e-5") == "lora.r=4,optimizer.lr=1e-5"
    assert setting_of("data.seed=3,seed=1") == "data.seed=3"  # another key that ends in seed stays
    assert setting_of("seed=1") == "default" and setting_of("llmts") == "llmts"
