"""Training windows: cut on time-step boundaries, padding masked, cached on disk."""

import pytest

from llmts.codec.tokenizer import build_tiny_tokenizer
from llmts.codec.windows import make_windows


def test_windows_start_on_step_boundaries_and_mask_padding(tiny_tokenizer):
    import torch

    text = "0.10,0.20;" * 10  # 100 tokens, a step every 10
    w = make_windows([text], tiny_tokenizer, context_length=48, stride=24)
    semi = tiny_tokenizer.convert_tokens_to_ids(";")
    pad = tiny_tokenizer.pad_token_id
    starts = w.input_ids[:, 0].tolist()
    assert all(s == 15 for s in starts)  # every window starts with a value ("0"), not mid-step
    last = w.input_ids[-1]
    assert (last == pad).any() and (last[w.lengths[-1] :] == pad).all()
    assert (last[: w.lengths[-1]] != pad).all()
    batch = w.batch(range(len(w)))
    assert all(v.dtype == torch.long for v in batch.values())
    assert torch.equal(batch["attention_mask"], (batch["input_ids"] != pad).long())
    assert (batch["labels"][batch["attention_mask"] == 0] == -100).all()
    real = batch["attention_mask"] == 1
    assert torch.equal(batch["labels"][real], batch["input_ids"][real])
    assert semi in w.input_ids[0].tolist()


def test_windows_are_cached_on_disk_per_texts_tokenizer_and_window(
    tiny_tokenizer, tmp_path, monkeypatch
):
    import torch

    from llmts.codec import windows as tokenization

    texts = ["0.10,0.20;" * 10, "1.25,0.05;" * 7]
    fresh = make_windows(texts, tiny_tokenizer, 48, 24)
    first = tokenization.cached_windows(texts, tiny_tokenizer, 48, 24, tmp_path)
    [entry] = tmp_path.glob("windows-*.pt")
    monkeypatch.setattr(tokenization, "make_windows", lambda *a: pytest.fail("cache missed"))
    again = tokenization.cached_windows(texts, tiny_tokenizer, 48, 24, tmp_path)
    for w in (first, again):
        assert torch.equal(w.input_ids, fresh.input_ids) and w.input_ids.dtype == torch.int32
        assert torch.equal(w.lengths, fresh.lengths) and w.lengths.dtype == torch.long
    monkeypatch.undo()
    # anything the windows depend on is a new entry
    key = tokenization.window_key
    base = key(texts, tiny_tokenizer, 48, 24)
    assert key(texts, tiny_tokenizer, 48, 12) != base and key(texts, tiny_tokenizer, 64, 24) != base
    assert key(texts[:1], tiny_tokenizer, 48, 24) != base
    assert key(["0.11,0.20;" * 10, texts[1]], tiny_tokenizer, 48, 24) != base
    other = build_tiny_tokenizer()
    other.add_tokens(["0.1"])
    assert key(texts, other, 48, 24) != base
    # a damaged entry is rebuilt, not fatal
    entry.write_bytes(b"not a torch file")
    rebuilt = tokenization.cached_windows(texts, tiny_tokenizer, 48, 24, tmp_path)
    assert torch.equal(rebuilt.input_ids, fresh.input_ids)
    assert torch.load(entry, weights_only=True)["input_ids"].dtype == torch.int32


def test_no_texts_give_empty_windows(tiny_tokenizer):
    import torch

    w = make_windows([], tiny_tokenizer, 48, 24)  # e.g. data.val_frac=0
    assert len(w) == 0 and w.input_ids.shape == (0, 48) and w.lengths.shape == (0,)
    assert all(v.shape == (0, 48) and v.dtype == torch.long for v in w.batch([]).values())


def test_window_cache_survives_concurrent_writers_and_a_read_only_disk(
    tiny_tokenizer, tmp_path, caplog
):
    from concurrent.futures import ThreadPoolExecutor

    import torch

    from llmts.codec.windows import cached_windows

    texts = ["0.10,0.20;" * 30]
    with ThreadPoolExecutor(4) as pool:  # like DDP ranks building the same entry at once
        results = list(
            pool.map(lambda _: cached_windows(texts, tiny_tokenizer, 48, 24, tmp_path), range(4))
        )
    assert all(torch.equal(r.input_ids, results[0].input_ids) for r in results)
    assert [p.name.startswith("windows-") for p in tmp_path.iterdir()] == [True]  # no temp left
    blocked = tmp_path / "file"
    blocked.write_text("")  # a "directory" that cannot be created
    w = cached_windows(texts, tiny_tokenizer, 48, 24, blocked / "windows")
    assert torch.equal(w.input_ids, results[0].input_ids)
    assert "not cached" in caplog.text
