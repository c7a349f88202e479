"""Constrained decoding through Hugging Face ``generate``: the grammar's allowed set token by
token as a logits processor, and end-to-end generation with an untrained tiny model (greedy,
sampling, left-padded batches, repeated rows)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from transformers import (
    AutoTokenizer,
    LogitsProcessorList,
    Qwen2Config,
    Qwen2ForCausalLM,
    StoppingCriteriaList,
)

from llmts.codec.grammar import Grammar, grammar_token_ids, max_new_tokens
from llmts.codec.llmtime import decode_forecast, encode_series
from llmts.forecast.hf import NumericGrammar, StepsDone
from tests.helpers import QWEN_TOKENIZER

DIGITS = set("0123456789")
EOS, PAD = "<eos>", "<pad>"


@pytest.fixture(scope="module")
def tok(tiny_tokenizer):
    return tiny_tokenizer


@pytest.fixture(scope="module")
def model():
    # Tiny matmuls: intra-op threads only add sync overhead (20x slower on a busy 2-core box).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = Qwen2Config(
        vocab_size=259,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
    )
    yield Qwen2ForCausalLM(cfg).eval()
    torch.set_num_threads(threads)


def names(tok) -> dict[int, str]:
    """Token ID -> the character it stands for (EOS/pad as markers)."""
    out = {i: c for c, i in grammar_token_ids(tok).items()}
    out[tok.eos_token_id], out[tok.pad_token_id] = EOS, PAD
    return out


def allowed_sets(
    tok, proc: NumericGrammar, prompt: list[int], text: str, vocab: int | None = None
) -> list[set[str]]:
    """The allowed set before each character of ``text`` and after the last one, feeding the
    processor one token per call as generate does."""
    ids = tok.encode(text, add_special_tokens=False)
    assert len(ids) == len(text)  # one token per character
    vocab = vocab or len(tok)
    label = names(tok)
    result = []
    for n in range(len(ids) + 1):
        input_ids = torch.tensor([prompt + ids[:n]])
        out = proc(input_ids, torch.zeros(1, vocab))
        finite = torch.isfinite(out[0]).nonzero().flatten().tolist()
        result.append({label[i] for i in finite})
    return result


def grammar(
    tok, prompt: list[int], num_vars: int = 2, precision: int = 2, horizon: int = 2, **kw
) -> NumericGrammar:
    """The processor over ``Grammar.build`` (2 variables, 2 decimals, 2 steps unless said)."""
    return NumericGrammar(Grammar.build(tok, num_vars, precision, horizon, **kw), len(prompt))


PROMPT_TEXT = "0.33,0.36;0.26,0.27;"


def test_allowed_set_position_by_position(tok):
    prompt = tok.encode(PROMPT_TEXT)
    proc = grammar(tok, prompt)
    sets = allowed_sets(tok, proc, prompt, "0.12,345.67;1.00,2.50;")
    expect = [
        DIGITS,  # start of a value: no sign by default
        DIGITS | {"."},  # after '0': more integer digits or the point
        DIGITS,  # after '.': decimals only
        DIGITS,  # one decimal of two
        {","},  # value 1 of 2 complete
        DIGITS,  # after ','
        DIGITS | {"."},  # '3'
        DIGITS | {"."},  # '34'
        {"."},  # '345' = max_int_digits: only the point
        DIGITS,
        DIGITS,
        {";"},  # last value of the step complete
        DIGITS,  # step 2 starts
        DIGITS | {"."},
        DIGITS,
        DIGITS,
        {","},
        DIGITS,
        DIGITS | {"."},
        DIGITS,
        DIGITS,
        {";"},
        {EOS, PAD},  # horizon reached
    ]
    assert sets == expect


def test_allow_sign(tok):
    prompt = tok.encode(PROMPT_TEXT)
    sets = allowed_sets(
        tok, grammar(tok, prompt, allow_sign=True, num_vars=1, horizon=1), prompt, "-1.50;"
    )
    assert sets == [DIGITS | {"-"}, DIGITS, DIGITS | {"."}, DIGITS, DIGITS, {";"}, {EOS, PAD}]
    # Without allow_sign a '-' is never allowed, anywhere.
    sets = allowed_sets(tok, grammar(tok, prompt), prompt, "1.50,2.00;")
    assert all("-" not in s for s in sets)


def test_precision_zero_and_one_int_digit(tok):
    prompt = tok.encode(PROMPT_TEXT)
    proc = grammar(tok, prompt, precision=0, max_int_digits=1, horizon=1)
    assert allowed_sets(tok, proc, prompt, "1,2;") == [DIGITS, {","}, DIGITS, {";"}, {EOS, PAD}]


def test_rows_are_tracked_independently_and_state_resets(tok):
    """Rows at different grammar positions get each its own mask from one batched call (identical
    rows identical masks), and a new generate (cur_len == prompt_len) starts over."""
    prompt = tok.encode(PROMPT_TEXT)
    label = names(tok)
    groups = [  # continuations of equal length per batch, at different grammar positions
        ["1.50,2.0", "12.3,4.5", "1.50,2.0", "123.45,6", "345.67,8"],
        ["12.34,5.67", "1.00,2.00;", "123.45,6.7", "1.00,2.00;"],
        ["1.00,2.00;3.00,4.00;", "123.45,678.90;1.00,2", "1.00,2.00;3.00,4.00;"],
    ]
    for group in groups:
        proc = grammar(tok, prompt)
        batch = torch.tensor([prompt + tok.encode(t) for t in group])
        for n in range(len(prompt), batch.shape[1] + 1):  # one token per call, as generate
            out = proc(batch[:, :n], torch.zeros(len(group), len(tok)))
        for text, scores in zip(group, out):
            ref = allowed_sets(tok, grammar(tok, prompt), prompt, text)[-1]
            got = {label[i] for i in torch.isfinite(scores).nonzero().flatten().tolist()}
            assert got == ref, text
    # Reuse after a finished run: cur_len == prompt_len resets every row.
    proc = grammar(tok, prompt, horizon=1)
    assert allowed_sets(tok, proc, prompt, "1.00,2.00;")[-1] == {EOS, PAD}
    assert allowed_sets(tok, proc, prompt, "")[0] == DIGITS


def test_allowed_scores_are_kept_unchanged(tok):
    prompt = tok.encode(PROMPT_TEXT)
    proc = grammar(tok, prompt)
    scores = torch.randn(3, len(tok))
    out = proc(torch.tensor([prompt] * 3), scores.clone())
    digit_ids = [grammar_token_ids(tok)[d] for d in "0123456789"]
    assert torch.equal(out[:, digit_ids], scores[:, digit_ids])
    assert torch.isinf(out).sum() == 3 * (len(tok) - 10)


def test_steps_done_is_per_row_bool(tok):
    semi = grammar_token_ids(tok)[";"]
    ids = torch.tensor([[semi, 5, semi, 15], [semi, 5, 15, 15], [semi, 5, semi, semi]])
    done = StepsDone(semi, horizon=2, prompt_len=1)(ids, None)
    assert done.dtype == torch.bool and done.shape == (3,)
    assert done.tolist() == [False, False, True]


FORECAST = r"(?:[0-9]{1,3}\.[0-9]{2},[0-9]{1,3}\.[0-9]{2};){%d}"  # 2 vars, precision 2, k=3


def _generate(tok, model, horizon: int, **gen_kw):
    """Left-padded batch of 4 prompts of different lengths (2 variables) through generate."""
    rng = np.random.default_rng(0)
    series = [rng.normal(size=(t, 2)).cumsum(0) for t in (3, 6, 9, 12)]
    encoded = [encode_series(x) for x in series]
    batch = tok([text for text, _ in encoded], return_tensors="pt", padding=True)
    assert (batch["attention_mask"][:, 0] == 0).any()  # left padding really is in play
    prompt_len = batch["input_ids"].shape[1]
    budget = max_new_tokens(2, horizon, 2, 3, False)
    out = model.generate(
        **batch,
        logits_processor=LogitsProcessorList(
            [NumericGrammar(Grammar.build(tok, 2, 2, horizon), prompt_len)]
        ),
        stopping_criteria=StoppingCriteriaList(
            [StepsDone(grammar_token_ids(tok)[";"], horizon, prompt_len)]
        ),
        max_new_tokens=budget,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        **gen_kw,
    )
    texts = tok.batch_decode(out[:, prompt_len:], skip_special_tokens=True)
    reps = gen_kw.get("num_return_sequences", 1)
    for i, text in enumerate(texts):
        assert _full(text, horizon), text
        x, alpha = series[i // reps], encoded[i // reps][1]
        fc = decode_forecast(text, 2, horizon, alpha, x[-1])
        assert (fc.parsed, fc.malformed) == (horizon, 0), text
        assert np.isfinite(fc.values).all()
    return out, prompt_len, budget, texts


def _full(text: str, horizon: int) -> bool:
    return re.fullmatch(FORECAST % horizon, text) is not None


def test_greedy_generation_always_parses(tok, model):
    out, prompt_len, budget, texts = _generate(tok, model, horizon=5, do_sample=False)
    assert len(texts) == 4
    # StepsDone ends generation once every row has its 5 steps, before the EOS slot at least.
    assert out.shape[1] - prompt_len < budget


def test_sampling_generation_always_parses(tok, model):
    torch.manual_seed(1)
    out, prompt_len, budget, texts = _generate(
        tok,
        model,
        horizon=4,
        do_sample=True,
        temperature=0.7,
        top_k=20,
        top_p=0.8,
        num_return_sequences=3,
    )
    assert len(texts) == 12
    assert len(set(texts)) > 1  # sampling does vary, yet every sample is well-formed
    assert out.shape[1] - prompt_len < budget


def test_steps_done_stops_early(tok, model):
    """With a short horizon and a large budget, generation stops as soon as all rows are done."""
    horizon = 2
    prompt = tok([PROMPT_TEXT, "1.00,2.00;"], return_tensors="pt", padding=True)
    prompt_len = prompt["input_ids"].shape[1]
    out = model.generate(
        **prompt,
        logits_processor=LogitsProcessorList(
            [NumericGrammar(Grammar.build(tok, 2, 2, horizon), prompt_len)]
        ),
        stopping_criteria=StoppingCriteriaList(
            [StepsDone(grammar_token_ids(tok)[";"], horizon, prompt_len)]
        ),
        max_new_tokens=200,
        do_sample=False,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
    )
    new = out.shape[1] - prompt_len
    assert new <= max_new_tokens(2, horizon, 2, 3, False) - 1 < 200
    for text in tok.batch_decode(out[:, prompt_len:], skip_special_tokens=True):
        assert _full(text, horizon), text


@pytest.mark.skipif(
    not QWEN_TOKENIZER.is_dir(), reason=f"real Qwen tokenizer not found at {QWEN_TOKENIZER}"
)
def test_qwen_tokenizer_masks_only_grammar_ids():

    qwen = AutoTokenizer.from_pretrained(str(QWEN_TOKENIZER))
    ids = grammar_token_ids(qwen)
    assert [ids[c] for c in "0123456789"] == list(range(15, 25))
    assert (ids[","], ids["."], ids[";"], ids["-"]) == (11, 13, 26, 12)
    # Multi-character tokens that contain grammar characters exist, and must stay masked.
    multi = [qwen.convert_tokens_to_ids(t) for t in (";Ċ", ".,", ");", '.",')]
    assert all(isinstance(i, int) and i > 26 for i in multi)
    vocab = 151936  # the model's padded embedding rows, more than len(tokenizer)
    assert vocab > len(qwen)
    prompt = qwen.encode(PROMPT_TEXT, add_special_tokens=False)
    proc = NumericGrammar(Grammar.build(qwen, 2, 2, 1, allow_sign=True), len(prompt))
    grammar_ids = set(ids.values())
    ends = {qwen.eos_token_id, qwen.pad_token_id}
    text = qwen.encode("-1.25,3.50;", add_special_tokens=False)
    assert len(text) == 11
    torch.manual_seed(0)
    for n in range(len(text) + 1):
        scores = torch.randn(2, vocab)
        out = proc(torch.tensor([prompt + text[:n]] * 2), scores)
        finite = set(torch.isfinite(out).any(0).nonzero().flatten().tolist())
        assert finite and finite <= (ends if n == len(text) else grammar_ids), n
        assert not any(torch.isfinite(out[:, m]).any() for m in multi)
        assert torch.isinf(out[:, len(qwen) :]).all()  # padded rows beyond the tokenizer
    assert finite == ends


def test_per_row_integer_digit_caps(tok):
    """Row 0 may write 2 integer digits, row 1 only 1: the cap follows each row's own series."""
    import torch

    g = NumericGrammar(Grammar.build(tok, 1, 1, 2, max_int_digits=2), 1, torch.tensor([2, 1]))
    vocab = len(tok)
    seven = tok.convert_tokens_to_ids("7")
    g(torch.zeros((2, 1), dtype=torch.long), torch.zeros(2, vocab))
    out = g(torch.tensor([[0, seven], [0, seven]]), torch.zeros(2, vocab))
    assert torch.isfinite(out[0, seven]) and not torch.isfinite(out[1, seven])  # a 2nd digit
    dot = tok.convert_tokens_to_ids(".")
    assert torch.isfinite(out[:, dot]).all()
