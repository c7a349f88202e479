"""End to end: ``llmts`` over local folders of several model families (tiny random models,
tests/helpers/families.py) — one model sweep and its report, and bad models as one line."""

from __future__ import annotations

import json

import pytest

from tests.helpers import digit_pair_tokenizer, llmts
from tests.helpers.families import save_family_model

pytestmark = pytest.mark.slow  # every test here runs the CLI in a subprocess

SMOKE = ("experiment=smoke", "model.source=pretrained", "data.num_series=24", "eval.num_series=2")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    return {
        "llama": save_family_model("llama", root / "llama"),
        "gemma3": save_family_model("gemma3", root / "gemma3"),
        "gpt2": save_family_model("gpt2", root / "gpt2", digit_pair_tokenizer()),
    }


def test_a_model_sweep_over_three_families_writes_one_report(folders, tmp_path):
    """`llmts -m model.path=A,B,C`: every job trains and forecasts with parse rate 1 (GPT-2's
    digit-merging tokenizer spaced by the default separator), and one report names each job's
    model and parameter count."""
    sweep = tmp_path / "sweep"
    paths = ",".join(str(folders[f]) for f in ("llama", "gemma3", "gpt2"))
    res = llmts("-m", *SMOKE, f"model.path={paths}", f"hydra.sweep.dir={sweep}")
    assert res.returncode == 0, res.stderr[-3000:]
    for job in ("0", "1", "2"):
        assert json.loads((sweep / job / "metrics.json").read_text())["parse_rate"] == 1.0
    assert "data.digit_separator=auto: ' '" in (sweep / "2" / "llmts.log").read_text()
    md = (sweep / "report.md").read_text()
    assert "| Model | Parameters |" in md
    for name in ("llama", "gemma3", "gpt2"):
        assert f"| {name} |" in md


def test_bad_models_end_in_one_line(folders, tmp_path):
    """A folder that holds no causal LM, a LoRA target the model lacks: exit 2, one line, no run
    dir."""
    (tmp_path / "notlm").mkdir()
    (tmp_path / "notlm" / "config.json").write_text(
        json.dumps({"model_type": "bert", "architectures": ["BertForMaskedLM"]})
    )
    cases = [
        ((f"model.path={tmp_path / 'notlm'}",), "not a causal LM"),
        ((f"model.path={folders['gpt2']}", "lora.target_modules=[q_proj]"), "q_proj not in"),
    ]
    for args, message in cases:
        run_dir = tmp_path / "run"
        res = llmts(*SMOKE, *args, f"hydra.run.dir={run_dir}")
        errors = [line for line in res.stderr.splitlines() if line.startswith("llmts: error:")]
        assert res.returncode == 2 and len(errors) == 1, res.stderr[-3000:]
        assert message in errors[0] and "Traceback" not in res.stderr, errors[0]
        assert not run_dir.exists()
