"""The --help lines come from the schema dataclasses, nested sections included."""

from __future__ import annotations


def test_help_lists_every_key_of_nested_sections():
    from llmts.config.bench import BenchRunConfig
    from llmts.config.help import describe
    from llmts.config.pretrain import PretrainConfig

    pretrain = [line.split("=", 1)[0].strip() for line in describe(PretrainConfig)]
    assert {"corpus.families", "corpus.num_series", "train.max_steps", "seed"} <= set(pretrain)
    assert "corpus" not in pretrain
    bench = [line.split("=", 1)[0].strip() for line in describe(BenchRunConfig)]
    assert "bench.sections" in bench and "bench" not in bench
