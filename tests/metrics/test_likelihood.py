"""NLL/D of the true continuation (llmts.metrics.likelihood) against hand computations on a fake
model
whose next-token distribution is the same fixed p at every position."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from llmts.codec.codec import Codec
from llmts.metrics.likelihood import series_nll


class FixedModel(torch.nn.Module):
    """Scores log p(token) at every position: hidden state 1, head weight 0, bias log p."""

    def __init__(self, logp: torch.Tensor):
        super().__init__()
        self.head = torch.nn.Linear(1, len(logp))
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.bias.copy_(logp)

    def get_decoder(self):
        def decoder(input_ids, attention_mask, use_cache):  # scoring says whether it caches
            assert use_cache is False  # nothing decodes after: a KV cache would be thrown away
            return SimpleNamespace(last_hidden_state=torch.ones(*input_ids.shape, 1))

        return decoder

    def get_output_embeddings(self):
        return self.head


@pytest.fixture
def fixed(tiny_tokenizer):
    p = torch.rand(len(tiny_tokenizer), generator=torch.Generator().manual_seed(0)) + 0.05
    ids = {ch: tiny_tokenizer.convert_tokens_to_ids(ch) for ch in "0123456789"}
    digit_sum = float(sum(p[i] for i in ids.values()))
    q = {ch: float(p[i]) / digit_sum for ch, i in ids.items()}  # renormalised over the digits
    return FixedModel(p.log()), q


def test_nll_per_dim_is_the_hand_computed_density(fixed, tiny_tokenizer):
    model, q = fixed
    alpha = 4.0
    context = np.array([[[2.0], [4.0], [1.0]]])  # scaled by α = 4: one integer digit
    truth = np.array([[[2.0], [4.8]]])  # "0.5;1.2;"
    got = series_nll(model, Codec(tiny_tokenizer, precision=1), context, truth, np.array([[alpha]]))
    # '.' and ';' are the only tokens the grammar allows where they stand (one integer digit,
    # one decimal, D = 1): q = 1; each digit is renormalised over the ten digits.
    neg_log_p = -sum(math.log(q[ch]) for ch in "0512")
    expected = (neg_log_p + 2 * math.log(0.1 * alpha)) / 2
    assert got[0] == pytest.approx(expected, rel=1e-6)


def test_missing_truth_is_skipped_and_each_variable_has_its_own_bin(fixed, tiny_tokenizer):
    model, q = fixed
    scales = np.array([[2.0, 10.0]])
    context = np.array([[[1.0, 5.0], [np.nan, 2.0]]])
    truth = np.array([[[np.nan, 5.0]], [[1.0, np.nan]]])[:, 0][None]  # "NaN,0.5;0.5,NaN;"
    got = series_nll(model, Codec(tiny_tokenizer, precision=1), context, truth, scales)
    # scored: "0.5" of variable 2 (step 1) and "0.5" of variable 1 (step 2); ',' and ';' after
    # them and after the NaN fields are forced (q = 1); the NaN fields' tokens are not scored
    neg_log_p = -2 * (math.log(q["0"]) + math.log(q["5"]))
    expected = (neg_log_p + math.log(0.1 * 10.0) + math.log(0.1 * 2.0)) / 2
    assert got[0] == pytest.approx(expected, rel=1e-6)


def test_a_truth_wider_than_the_context_stays_inside_the_grammar(fixed, tiny_tokenizer):
    model, q = fixed
    context = np.array([[[0.5], [1.0]]])  # α = 1 (scale given), one integer digit
    truth = np.array([[[12.0]]])  # two integer digits: the cap widens to the truth's
    got = series_nll(model, Codec(tiny_tokenizer, precision=0), context, truth, np.array([[1.0]]))
    # "12;": '1' among the digits (the value may not end yet: no separator before a digit);
    # then '2' or ';' may follow (cap 2 not reached) → renormalised over digits + ';'
    p = torch.exp(model.head.bias.detach())
    semi, digits = (
        p[tiny_tokenizer.convert_tokens_to_ids(";")],
        [p[tiny_tokenizer.convert_tokens_to_ids(c)] for c in "0123456789"],
    )
    q2 = float(p[tiny_tokenizer.convert_tokens_to_ids("2")] / (sum(digits) + semi))
    assert np.isfinite(got[0])
    assert got[0] == pytest.approx(-math.log(q["1"]) - math.log(q2) + math.log(1.0), rel=1e-6)


def test_series_with_no_observed_truth_is_nan(fixed, tiny_tokenizer):
    model, _ = fixed
    got = series_nll(
        model,
        Codec(tiny_tokenizer, precision=1),
        np.ones((2, 3, 1)),
        np.array([[[np.nan]], [[1.0]]]),
        np.ones((2, 1)),
    )
    assert np.isnan(got[0]) and np.isfinite(got[1])
