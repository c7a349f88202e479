"""The mini model shipped in the package: loaded through from_pretrained like a local Qwen folder
(tied head + the study's bias, LoRA on q/v, the numeric head), its pretraining visible in what it
does zero-shot (well-formed series, unconstrained), LoRA improving it, a damaged weights file one
line naming it."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from llmts.codec.codec import Codec
from llmts.codec.tokenizer import load_tokenizer
from llmts.data.series import simulate_lotka_volterra
from llmts.model.build import build_model, load_base_model
from tests.helpers import compose


@pytest.fixture(scope="module")
def mini():
    cfg = compose("model=mini")
    return cfg, Codec.build(cfg.data, load_tokenizer(cfg.model))


def test_loads_the_installed_folder_through_from_pretrained(mini):
    import llmts

    cfg, codec = mini
    folder = Path(cfg.model.path)
    assert folder == Path(llmts.__file__).parent / "model" / "weights" / "mini"
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= {
        p.name for p in folder.iterdir()
    }
    assert sum(p.stat().st_size for p in folder.iterdir()) < 20e6
    model = build_model(cfg.model, cfg.lora, cfg.seed, codec)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n or n.endswith("lm_head.bias") for n in names)
    assert any("q_proj" in n for n in names) and any("v_proj" in n for n in names)
    head, emb = model.get_output_embeddings(), model.get_input_embeddings()
    assert head.weight is emb.weight and head.bias.requires_grad  # tied, + the study's bias
    assert codec.tokenizer("0.33,0.36;")["input_ids"] == [15, 13, 18, 18, 11, 15, 13, 18, 21, 26]
    numeric = compose("model=mini", "model.output_vocab=numeric")
    build_model(numeric.model, numeric.lora, 0, codec)  # the numeric-only head over it


def lv_contexts(n: int, steps: int = 71):
    series, _ = simulate_lotka_volterra(n, 100, 200.0, seed=7)
    return series[:, :steps].astype(np.float64)


def test_base_writes_well_formed_series_unconstrained(mini):
    from llmts.config.schema import DecodingConfig
    from llmts.forecast.batch import forecast

    cfg, codec = mini
    model = load_base_model(cfg.model, 0)
    res = forecast(
        model,
        codec,
        lv_contexts(16)[:, :51],
        20,
        DecodingConfig(constrained=False),
        batch_size=16,
        seed=0,
    )
    assert res.parse_rate >= 0.9, res.parse_rate


def test_lora_improves_the_base_on_a_few_series(mini):
    from omegaconf import OmegaConf

    from llmts.codec.windows import make_windows
    from llmts.config.schema import OptimizerConfig
    from llmts.train.loop import evaluate_loss, make_accelerator, make_step_parts, train_step

    cfg, codec = mini
    model = build_model(cfg.model, cfg.lora, cfg.seed, codec)
    series = lv_contexts(24, 100)
    windows = [
        make_windows(codec.training_texts(part), codec.tokenizer, 384, 384)
        for part in (series[:16], series[16:])
    ]
    acc = make_accelerator("no")
    opt = OmegaConf.structured(OptimizerConfig(lr=3e-3, weight_decay=0.0))
    parts, _, _ = make_step_parts(model, opt, 12, acc, chunked=False, compiled="none")
    before = evaluate_loss(parts.loss_model, windows[1], 8, None, acc)
    generator = torch.Generator().manual_seed(0)
    for _ in range(12):
        rows = torch.randint(0, len(windows[0]), (8,), generator=generator)
        train_step(parts, [windows[0].batch(rows)])
    after = evaluate_loss(parts.loss_model, windows[1], 8, None, acc)
    assert after < before - 0.01, (before, after)  # measured on the shipped base: 0.507 -> 0.485


def test_damaged_weights_are_one_line_naming_the_file(mini, tmp_path):
    from llmts.errors import LlmtsError

    cfg, _ = mini
    folder = tmp_path / "mini"
    shutil.copytree(cfg.model.path, folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    damaged = compose("model=mini", f"model.path={folder}")
    with pytest.raises(LlmtsError, match="model.safetensors") as err:
        load_base_model(damaged.model, 0)
    assert str(weights) in str(err.value) and "\n" not in str(err.value)


def test_the_cards_settings_are_llmts_pretrains_defaults():
    """The card's remake command (`llmts-pretrain seed=0`) trains the shipped model only while
    the defaults compose to the settings the card states: corpus mix, steps, rate, precision."""
    import yaml
    from omegaconf import OmegaConf

    card = (Path(compose("model=mini").model.path) / "README.md").read_text()
    stated = yaml.safe_load(card.split("Settings:", 1)[1].split("```yaml", 1)[1].split("```")[0])
    composed = OmegaConf.to_container(
        compose(config_name="pretrain"), resolve=True, enum_to_str=True
    )
    assert stated == {k: composed[k] for k in stated}
    assert set(stated) == {"model", "data", "optimizer", "train", "corpus", "seed"}
