"""llmts-pretrain: a few steps of a small model write a Hugging Face folder that
from_pretrained loads, with a true model card; the same seed gives the same weights; a mistake is
one line and exit 2."""

import pytest

from tests.helpers import compose, llmts

SMALL = [
    "model.hidden_size=32",
    "model.intermediate_size=64",
    "model.num_hidden_layers=1",
    "model.num_attention_heads=2",
    "model.num_key_value_heads=1",
    "corpus.num_series=30",
    "corpus.val_series=4",
    "corpus.num_steps=60",
    "data.context_length=128",
    "train.max_steps=3",
    "train.batch_size=2",
    "train.eval_every=3",
    "train.val_batches=1",
    "train.save_every=3",
    "train.log_every=1",
    "train.compile=none",  # compiling would take longer than these three steps
]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    from llmts.cli.pretrain import run

    runs = []
    for name in ("a", "b"):
        root = tmp_path_factory.mktemp(name)
        facts = run(
            compose(*SMALL, f"output={root / 'model'}", config_name="pretrain"), root / "run"
        )
        runs.append((root / "model", facts))
    return runs


def test_writes_a_folder_from_pretrained_loads(pretrained):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, facts = pretrained[0]
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= {
        p.name for p in folder.iterdir()
    }
    model = AutoModelForCausalLM.from_pretrained(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    assert sum(p.numel() for p in model.parameters()) == facts["parameters"]
    assert model.config.hidden_size == 32 and model.config.tie_word_embeddings
    assert tok("0.33,0.36;")["input_ids"] == [15, 13, 18, 18, 11, 15, 13, 18, 21, 26]
    assert torch.isfinite(model(**tok("0.1;0.2;", return_tensors="pt")).logits).all()
    card = (folder / "README.md").read_text()
    for fact in (
        f"| steps | {facts['steps']} ",
        f"{facts['tokens']:,}",
        f"seed | {facts['seed']}",
        f"{facts['final_train_loss']:.4f}",
        f"{facts['train_flops']:.3e}",
        "(train.val_batches=1, as in training)",
        f"| validation loss, whole split | {facts['whole_val_loss']:.4f} "
        f"({facts['val_windows']} windows)",
        f"| validation loss by step | 0: {facts['val_curve'][0][1]:.4f}, "
        f"3: {facts['final_val_loss']:.4f} |",
        "Van der Pol",
        "llmts-pretrain seed=0",
    ):
        assert fact in card, fact
    assert facts["steps"] == 3 and facts["tokens"] > 0 and facts["train_flops"] > 0
    # the whole split holds more windows than the loop's one validation batch of 2
    assert facts["val_windows"] > 2 and facts["whole_val_loss"] != facts["final_val_loss"]


def test_a_validation_of_every_window_is_not_repeated(tmp_path, monkeypatch):
    """train.val_batches=null: the loop's last validation already read the whole split, so the
    card's whole-split loss is that one, not a second pass."""
    import llmts.train.loop
    from llmts.cli.pretrain import run

    calls = []
    real = llmts.train.loop.evaluate_loss
    monkeypatch.setattr(
        llmts.train.loop, "evaluate_loss", lambda *a, **k: calls.append(a[3]) or real(*a, **k)
    )
    over = [o for o in SMALL if not o.startswith("train.val_batches")] + ["train.val_batches=null"]
    facts = run(compose(*over, f"output={tmp_path / 'model'}", config_name="pretrain"), tmp_path)
    assert calls == [None, None]  # validation at steps 0 and 3, each of every window
    assert facts["whole_val_loss"] == facts["final_val_loss"]


def test_same_seed_same_weights(pretrained):
    from safetensors.torch import load_file

    (a, _), (b, _) = pretrained
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys() and all(wa[k].equal(wb[k]) for k in wa)


@pytest.mark.slow  # subprocesses
def test_mistakes_are_one_line_exit_2(tmp_path):
    for args, says in (
        (["train.max_step=3"], "train.max_step"),
        (["model.source=pretrained"], "model.source"),
        (["corpus.num_series=0"], "corpus.num_series"),
    ):
        res = llmts(*args, f"hydra.run.dir={tmp_path}", tool="llmts-pretrain", timeout=120)
        assert res.returncode == 2, res.stderr[-2000:]
        lines = res.stderr.strip().splitlines()
        assert (
            len(lines) == 1 and lines[0].startswith("llmts-pretrain: error:") and says in lines[0]
        )
