import pytest

from tests.helpers import QWEN_TOKENIZER
from llmts.codec.tokenizer import make_windows

TABLE1_IDS = {
    "0.33,0.36;0.26,0.27;0.24,0.20;":
        "15 13 18 18 11 15 13 18 21 26 15 13 17 21 11 15 13 17 22 26 15 13 17 19 11 15 13 17 15 26",
    "0.30,0.31;0.34,0.26;0.39,0.21;":
        "15 13 18 15 11 15 13 18 16 26 15 13 18 19 11 15 13 17 21 26 15 13 18 24 11 15 13 17 16 26",
}


def ids(tok, text):
    return " ".join(map(str, tok(text, add_special_tokens=False)["input_ids"]))


@pytest.mark.parametrize("text", TABLE1_IDS)
def test_tiny_tokenizer_reproduces_table1_ids(tiny_tokenizer, text):
    assert ids(tiny_tokenizer, text) == TABLE1_IDS[text]
    assert tiny_tokenizer.decode(tiny_tokenizer(text)["input_ids"]) == text


@pytest.mark.skipif(not QWEN_TOKENIZER.is_dir(), reason=f"real Qwen tokenizer absent: {QWEN_TOKENIZER}")
@pytest.mark.parametrize("text", TABLE1_IDS)
def test_real_qwen_tokenizer_reproduces_table1_ids(text):
    from llmts.config.schema import ModelConfig
    from llmts.codec.tokenizer import load_tokenizer

    tok = load_tokenizer(ModelConfig(path=str(QWEN_TOKENIZER)))
    assert ids(tok, text) == TABLE1_IDS[text]


def test_tiny_specials_and_single_char_ids(tiny_tokenizer):
    tok = tiny_tokenizer
    assert [tok.convert_tokens_to_ids(c) for c in "0,.;"] == [15, 11, 13, 26]
    assert tok.pad_token_id != tok.eos_token_id and len(tok) == 259


def test_windows_start_on_step_boundaries_and_mask_padding(tiny_tokenizer):
    text = "0.10,0.20;" * 10  # 100 tokens, a step every 10
    w = make_windows([text], tiny_tokenizer, context_length=48, stride=24)
    semi = tiny_tokenizer.convert_tokens_to_ids(";")
    pad = tiny_tokenizer.pad_token_id
    starts = w["input_ids"][:, 0].tolist()
    assert all(s == 15 for s in starts)  # every window starts with a value ("0"), not mid-step
    last = w["input_ids"][-1]
    assert (last == pad).any()
    assert (w["labels"][w["attention_mask"] == 0] == -100).all()
    assert (w["labels"][w["attention_mask"] == 1] != -100).all()
    assert semi in w["input_ids"][0].tolist()


def test_windows_are_cached_on_disk_per_texts_tokenizer_and_window(tiny_tokenizer, tmp_path,
                                                                   monkeypatch):
    import torch

    from llmts.codec import tokenizer as tokenization

    texts = ["0.10,0.20;" * 10, "1.25,0.05;" * 7]
    fresh = make_windows(texts, tiny_tokenizer, 48, 24)
    first = tokenization.cached_windows(texts, tiny_tokenizer, 48, 24, tmp_path)
    [entry] = tmp_path.glob("windows-*.pt")
    monkeypatch.setattr(tokenization, "make_windows", lambda *a: pytest.fail("cache missed"))
    again = tokenization.cached_windows(texts, tiny_tokenizer, 48, 24, tmp_path)
    for w in (first, again):
        assert w.keys() == fresh.keys()
        assert all(torch.equal(w[k], fresh[k]) and w[k].dtype == torch.long for k in fresh)
    monkeypatch.undo()
    # anything the windows depend on is a new entry
    key = tokenization.window_key
    base = key(texts, tiny_tokenizer, 48, 24)
    assert key(texts, tiny_tokenizer, 48, 12) != base and key(texts, tiny_tokenizer, 64, 24) != base
    assert key(texts[:1], tiny_tokenizer, 48, 24) != base
    assert key(["0.11,0.20;" * 10, texts[1]], tiny_tokenizer, 48, 24) != base
    other = tokenization.build_tiny_tokenizer()
    other.add_tokens(["0.1"])
    assert key(texts, other, 48, 24) != base
    # a damaged entry is rebuilt, not fatal
    entry.write_bytes(b"not a torch file")
    rebuilt = tokenization.cached_windows(texts, tiny_tokenizer, 48, 24, tmp_path)
    assert torch.equal(rebuilt["input_ids"], fresh["input_ids"])
    assert torch.load(entry, weights_only=True)["input_ids"].dtype == torch.int32


def test_no_texts_give_empty_windows(tiny_tokenizer):
    import torch

    w = make_windows([], tiny_tokenizer, 48, 24)  # e.g. data.val_frac=0
    assert sorted(w) == ["attention_mask", "input_ids", "labels"]
    assert all(v.shape == (0, 48) and v.dtype == torch.long for v in w.values())


def test_window_cache_survives_concurrent_writers_and_a_read_only_disk(tiny_tokenizer, tmp_path,
                                                                       caplog):
    from concurrent.futures import ThreadPoolExecutor

    import torch

    from llmts.codec.tokenizer import cached_windows

    texts = ["0.10,0.20;" * 30]
    with ThreadPoolExecutor(4) as pool:  # like DDP ranks building the same entry at once
        results = list(pool.map(lambda _: cached_windows(texts, tiny_tokenizer, 48, 24, tmp_path),
                                range(4)))
    assert all(torch.equal(r["input_ids"], results[0]["input_ids"]) for r in results)
    assert [p.name.startswith("windows-") for p in tmp_path.iterdir()] == [True]  # no temp left
    blocked = tmp_path / "file"
    blocked.write_text("")  # a "directory" that cannot be created
    w = cached_windows(texts, tiny_tokenizer, 48, 24, blocked / "windows")
    assert torch.equal(w["input_ids"], results[0]["input_ids"])
    assert "not cached" in caplog.text
