"""Does a base model read its context? Teacher-forced accuracy of the tenths digit (the first digit
after the point) on the second half of LLMTIME texts, next to "repeat the same variable's tenths
digit from the previous step" (what a model that reads only the last step can do)::

    python scripts/digit_probe.py llmts/model/weights/mini [more folders]

Texts: 64 series of 71 steps each of simulated Lotka-Volterra (never in the pretraining corpus)
and of the synthetic ``periodic`` and ``motif`` families (a held-out seed), encoded by the codec
(95th-percentile scaling, 2 decimals). On ``motif`` the values repeat with a period of several
steps, so only copying from further back predicts them.
"""

from __future__ import annotations

import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from llmts.codec import Codec
from llmts.config.schema import DataConfig
from llmts.data import synthetic
from llmts.data.series import simulate_lotka_volterra

STEPS, N = 71, 64


def texts(codec: Codec) -> dict[str, list[str]]:
    lv, _ = simulate_lotka_volterra(N, 100, 200.0, seed=12345)
    out = {"lotka_volterra": codec.training_texts(lv[:, :STEPS])}
    for name in ("periodic", "motif"):
        corpus = synthetic.generate(N, STEPS, seed=12345, families={name: 1.0})
        out[name] = codec.training_texts(corpus.series)
    return out


def tenths(text: str) -> list[tuple[int, int]]:
    """(character index of each tenths digit, index of the same variable's one a step earlier,
    or -1), over the whole text."""
    steps = text.rstrip(";").split(";")
    pos, start, prev = [], 0, None
    for step in steps:
        here = [start + i + 1 for i, ch in enumerate(step) if ch == "."]
        for j, p in enumerate(here):
            pos.append((p, prev[j] if prev and j < len(prev) else -1))
        prev, start = here, start + len(step) + 1
    return pos


@torch.no_grad()
def probe(folder: str) -> dict[str, tuple[float, float]]:
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    codec = Codec.build(DataConfig(), tok)  # checks one token per character
    result = {}
    for name, batch in texts(codec).items():
        hit = copy = total = 0
        for text in batch:
            ids = tok(text, add_special_tokens=False).input_ids
            pred = model(torch.tensor([ids])).logits[0].argmax(-1).tolist()
            for p, q in tenths(text):
                if p < len(text) // 2 or q < 0:
                    continue
                total += 1
                hit += pred[p - 1] == ids[p]  # logits at p-1 predict character p
                copy += text[q] == text[p]
        result[name] = (hit / total, copy / total)
    return result


def main() -> None:
    print(f"{'model':<40} {'texts':<16} {'tenths acc':>10} {'prev-step copy':>15}")
    for folder in sys.argv[1:]:
        for name, (acc, copy) in probe(folder).items():
            print(f"{folder:<40} {name:<16} {acc:>10.3f} {copy:>15.3f}")


if __name__ == "__main__":
    main()
