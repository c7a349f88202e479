"""The grammar's token tables: one token per codec character, and the tightest token budget."""

from __future__ import annotations

import pytest

from llmts.codec.grammar import grammar_token_ids, max_new_tokens
from llmts.errors import LlmtsError


def test_grammar_token_ids_match_qwen_ids(tiny_tokenizer):
    ids = grammar_token_ids(tiny_tokenizer)
    assert [ids[c] for c in "0123456789"] == list(range(15, 25))
    assert (ids[","], ids["."], ids[";"], ids["-"]) == (11, 13, 26, 12)


def test_grammar_token_ids_rejects_multi_token_chars():
    class Splitting:
        def encode(self, text, add_special_tokens=False):
            return [1, 2] if text == ";" else [0]

    with pytest.raises(LlmtsError, match="';'"):
        grammar_token_ids(Splitting())


def test_max_new_tokens_is_tight():
    # 2 vars x 3 steps x ('123.45' + separator) + EOS
    assert max_new_tokens(2, 3, 2, 3, False) == 2 * 3 * 7 + 1
    assert max_new_tokens(2, 3, 2, 3, True) == 2 * 3 * 8 + 1
    assert max_new_tokens(1, 4, 0, 2, False) == 4 * 3 + 1
