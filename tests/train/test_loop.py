import math

import numpy as np
import pytest
import torch

from llmts.codec.llmtime import encode_all
from llmts.codec.windows import Windows, make_windows
from llmts.data.series import simulate_lotka_volterra
from llmts.errors import LlmtsError
from llmts.model.build import build_model
from llmts.tracking.tracker import NullTracker
from llmts.train import checkpoint as ckpt
from llmts.train.checkpoint import trainable_state
from llmts.train.loop import batch_rows, deterministic_algorithms, make_accelerator, train
from llmts.train.loss import CausalLMLoss, causal_only, make_loss
from tests.helpers import compose

LR = 3e-3


@pytest.fixture(scope="module")
def windows(tiny_tokenizer):
    cfg = compose("model=tiny")
    series, _ = simulate_lotka_volterra(12, 40, 80.0, seed=0)
    texts = encode_all(series, cfg.data.percentile, cfg.data.precision)
    return (
        make_windows(texts[:10], tiny_tokenizer, 96, 48),
        make_windows(texts[10:], tiny_tokenizer, 96, 48),
    )


def run_train(tmp_path, windows, *overrides, precision: str = "no"):
    cfg = compose(
        "model=tiny",
        "lora=none",
        f"optimizer.lr={LR}",
        "train.batch_size=4",
        "train.eval_every=2",
        "train.log_every=1",
        "train.chunked_loss=false",
        "train.select=last",
        *overrides,
    )
    model = build_model(cfg.model, cfg.lora, cfg.seed)
    result = train(
        model,
        windows[0],
        windows[1],
        cfg.train,
        cfg.optimizer,
        seed=cfg.seed,
        run_dir=tmp_path,
        tracker=NullTracker(),
        accelerator=make_accelerator(precision),
        flops_per_step=1.0,
    )
    return model, result


def test_tiny_model_loss_falls_and_history_is_written(tmp_path, windows):
    model, result = run_train(tmp_path, windows, "train.max_steps=12", "train.eval_every=6")
    losses = [r["loss"] for r in result.history if "loss" in r]
    vals = [r["val_loss"] for r in result.history if "val_loss" in r]
    assert len(losses) == 12 and len(vals) == 3  # validation at steps 0, 6, 12
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3])
    assert vals[-1] < vals[0]
    header = (tmp_path / "train_history.csv").read_text().splitlines()[0]
    assert header == "step,loss,lr,tokens_per_s,flops,val_loss"
    assert (tmp_path / "checkpoints" / "step-12" / "state.json").is_file()


def test_padding_contributes_nothing(tiny_tokenizer, windows):
    cfg = compose("model=tiny")
    model = build_model(cfg.model, cfg.lora, 0)
    w = windows[0]
    padded = int((w.attention_mask == 0).any(1).nonzero()[0])
    batch = w.batch([padded])
    other = {k: v.clone() for k, v in batch.items()}
    pad = other["attention_mask"] == 0
    other["input_ids"][pad] = torch.randint(0, 250, (int(pad.sum()),))  # junk under the mask
    for chunk in (0, 7):
        grads = []
        for b in (batch, other):
            model.zero_grad()
            loss = CausalLMLoss(model, chunk)(**b)
            loss.backward()
            grads.append(
                (loss.detach(), [p.grad.clone() for p in model.parameters() if p.requires_grad])
            )
        assert torch.equal(grads[0][0], grads[1][0])
        assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(grads[0][1], grads[1][1]))


def test_chunked_loss_equals_plain_loss(windows):
    cfg = compose("model=tiny")
    model = build_model(cfg.model, cfg.lora, 0)
    batch = windows[0].batch(range(4))
    plain, chunked = CausalLMLoss(model, 0)(**batch), CausalLMLoss(model, 50)(**batch)
    assert torch.allclose(plain, chunked, atol=1e-5)
    g1 = torch.autograd.grad(plain, [p for p in model.parameters() if p.requires_grad])
    g2 = torch.autograd.grad(chunked, [p for p in model.parameters() if p.requires_grad])
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(g1, g2))


@pytest.mark.parametrize("chunk", [0, 50])
def test_the_loss_builds_no_kv_cache(windows, chunk):
    """A cache filled and dropped every step costs memory, and its per-layer state made each
    compiled decoder layer recompile (train.compile=regions on a 24-layer model hit
    torch._dynamo's recompile limit on a GPU)."""
    cfg = compose("model=tiny")
    model = build_model(cfg.model, cfg.lora, 0)
    caches = []  # each layer's cache argument (transformers 5.24 renamed past_key_values)
    for layer in model.get_decoder().layers:
        layer.register_forward_pre_hook(
            lambda _m, _a, kw: caches.extend(
                kw[k] for k in ("cache", "past_key_values") if k in kw
            ),
            with_kwargs=True,
        )
    CausalLMLoss(model, chunk)(**windows[0].batch([0, 1]))
    assert caches == [None] * len(model.get_decoder().layers)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_no_mask_is_causal_attention(windows, attn):
    """Full windows pass no mask: SDPA then runs its causal kernel with no mask built (the
    prepared "causal only" mask), eager attention builds the causal mask; either way the loss
    is that of an explicit all-ones mask."""
    cfg = compose("model=tiny", f"model.attn_implementation={attn}")
    model = build_model(cfg.model, cfg.lora, 0)
    assert (causal_only(model) is None) == (attn == "eager")
    batch = full_windows(windows[0]).batch([0, 1])
    ones = torch.ones_like(batch["input_ids"])
    for chunk in (0, 50):
        loss = CausalLMLoss(model, chunk)
        without = loss(batch["input_ids"], None, batch["labels"])
        assert torch.allclose(without, loss(batch["input_ids"], ones, batch["labels"]), atol=1e-6)


def test_data_order_is_a_function_of_seed_and_position():
    a = [batch_rows(m, 4, 10, seed=7) for m in range(5)]
    assert a == [batch_rows(m, 4, 10, seed=7) for m in range(5)]
    flat = sum(a, [])
    assert sorted(flat[:10]) == list(range(10))  # one epoch visits every window once


def crash_at(monkeypatch, step, run_dir, windows, *opts):
    """Run :func:`run_train` into ``run_dir`` and kill it at optimizer step ``step``."""

    def crash(loss):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        interrupt_at(m, step, crash)
        with pytest.raises(KeyboardInterrupt):
            run_train(run_dir, windows, *opts)


def interrupt_at(monkeypatch, step, action):
    """Make the training forward of optimizer step ``step`` call ``action(loss)``."""
    calls = {"n": 0}
    original = CausalLMLoss.forward

    def forward(self, **batch):
        loss = original(self, **batch)
        if self.training:
            calls["n"] += 1
            if calls["n"] == step:
                return action(loss)
        return loss

    monkeypatch.setattr(CausalLMLoss, "forward", forward)


def test_resume_is_bit_exact(tmp_path, windows, monkeypatch):
    opts = (
        "train.max_steps=6",
        "train.save_every=3",
        "optimizer.schedule=cosine",
        "optimizer.warmup_steps=2",
    )
    full_model, full = run_train(tmp_path / "full", windows, *opts)
    crash_at(monkeypatch, 5, tmp_path / "cut", windows, *opts)
    assert ckpt.find_latest(tmp_path / "cut").name == "step-3"
    resumed_model, resumed = run_train(tmp_path / "cut", windows, *opts, "train.resume=auto")

    def timeless(history):
        return [{k: v for k, v in r.items() if k != "tokens_per_s"} for r in history]

    assert timeless(resumed.history) == timeless(full.history)
    a, b = trainable_state(full_model), trainable_state(resumed_model)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("compiled", ["none", "regions"])
def test_a_compiled_resume_evaluates_before_its_first_step(
    tmp_path, windows, monkeypatch, compiled
):
    """Compiled kernels depend on which graph was compiled first; a run from step 0 validates
    before training, so a compiled resumed run evaluates first too (measured: without it, the
    resumed mini recipe parted from the uninterrupted run by rounding within 4 steps)."""
    import llmts.train.loop

    opts = ("train.max_steps=2", "train.save_every=1", f"train.compile={compiled}")
    run_train(tmp_path, windows, *opts)
    order = []
    real_eval, real_step = llmts.train.loop.evaluate_loss, llmts.train.loop.train_step
    monkeypatch.setattr(
        llmts.train.loop, "evaluate_loss", lambda *a: order.append("eval") or real_eval(*a)
    )
    monkeypatch.setattr(
        llmts.train.loop, "train_step", lambda *a: order.append("step") or real_step(*a)
    )
    run_train(tmp_path, windows, *opts[1:], "train.max_steps=3", "train.resume=auto")
    assert order == (["eval", "step"] if compiled == "regions" else ["step"]) + ["eval"]


def test_non_finite_loss_stops_with_step_and_keeps_checkpoint(tmp_path, windows, monkeypatch):
    interrupt_at(monkeypatch, 3, lambda loss: loss * math.nan)
    with pytest.raises(LlmtsError, match="step 3: non-finite loss"):
        run_train(tmp_path, windows, "train.max_steps=6", "train.save_every=2")
    assert ckpt.find_latest(tmp_path).name == "step-2"


def test_numeric_output_vocab_loss_is_a_softmax_over_the_codec_tokens(tiny_tokenizer, windows):
    from llmts.codec.codec import Codec
    from llmts.model.build import numeric_token_ids

    cfg = compose("model=tiny", "model.output_vocab=numeric")
    numeric = build_model(cfg.model, cfg.lora, 0, Codec(tiny_tokenizer))
    full = build_model(compose("model=tiny").model, cfg.lora, 0)
    batch = windows[0].batch(range(4))
    plain, chunked = CausalLMLoss(numeric, 0)(**batch), CausalLMLoss(numeric, 64)(**batch)
    assert torch.allclose(plain, chunked, atol=1e-5)
    assert chunked < CausalLMLoss(full, 0)(**batch)  # less mass to spread than over all of V
    head = numeric.get_output_embeddings()
    assert len(head.ids) == len(set(numeric_token_ids(Codec(tiny_tokenizer)))) < 20
    assert head.head.weight is numeric.get_input_embeddings().weight  # still tied


@pytest.mark.slow  # inductor compiles for seconds
def test_compiled_training_matches_eager_and_saves_the_same_checkpoint(
    tmp_path, windows, monkeypatch
):
    """train.compile (inductor, chunked loss as by default): the same losses as eager to float
    tolerance, and a checkpoint whose tensor names are the model's own (no compile prefixes)."""
    import llmts.train.loop

    built = []
    monkeypatch.setattr(
        llmts.train.loop,
        "make_loss",
        lambda *a, **kw: built.append(make_loss(*a, **kw)) or built[-1],
    )
    steps = (
        "train.max_steps=3",
        "train.eval_every=0",
        "train.save_every=3",
        "train.chunked_loss=true",
    )
    eager, a = run_train(tmp_path / "eager", windows, *steps)
    compiled, b = run_train(tmp_path / "compiled", windows, *steps, "train.compile=regions")
    kinds = [{type(m).__name__ for m in loss.model.model.layers} for loss in built]
    assert kinds == [{"Qwen2DecoderLayer"}, {"OptimizedModule"}]  # train() really compiled
    la, lb = ([r["loss"] for r in res.history] for res in (a, b))
    assert np.allclose(la, lb, rtol=1e-4), (la, lb)
    from safetensors.torch import load_file

    saved = [ckpt.find_latest(tmp_path / run) for run in ("eager", "compiled")]
    sa, sb = (load_file(str(s / "trainable.safetensors")) for s in saved)
    assert sa.keys() == sb.keys() == trainable_state(compiled).keys()
    assert all(torch.allclose(sa[k], sb[k], atol=1e-4) for k in sa)


def test_a_compiled_embedding_gradient_repeats_exactly_when_deterministic():
    """Inductor's CPU kernel for an embedding's gradient adds rows atomically, in an order that
    varies between calls when two threads run it; under deterministic_algorithms it does not,
    and the mode is restored. (Test workers run one thread each: this test takes two.)"""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    torch._dynamo.reset()
    emb = torch.nn.Embedding(16, 64)
    gen = torch.Generator().manual_seed(0)
    ids, upstream = torch.randint(0, 16, (8, 768), generator=gen), torch.randn(8, 768, 64)
    loss = torch.compile(lambda i: (emb(i) * upstream).sum())
    grads = []
    try:
        with deterministic_algorithms(True):
            for _ in range(4):
                emb.weight.grad = None
                loss(ids).backward()
                grads.append(emb.weight.grad)
    finally:
        torch.set_num_threads(threads)
    assert all(g.equal(grads[0]) for g in grads)
    assert not torch.are_deterministic_algorithms_enabled()


@pytest.mark.parametrize("deterministic", [True, False])
def test_training_steps_run_under_train_deterministic(
    tmp_path, windows, monkeypatch, deterministic
):
    import llmts.train.loop

    modes = []
    real = llmts.train.loop.train_step
    monkeypatch.setattr(
        llmts.train.loop,
        "train_step",
        lambda *a: modes.append(torch.are_deterministic_algorithms_enabled()) or real(*a),
    )
    run_train(tmp_path, windows, "train.max_steps=2", f"train.deterministic={deterministic}")
    assert modes == [deterministic] * 2
    assert not torch.are_deterministic_algorithms_enabled()


def full_windows(w: Windows) -> Windows:
    return w.select(w.attention_mask.all(1))


def test_a_training_step_never_waits_for_the_device(tmp_path, windows, monkeypatch):
    """train_step (the step llmts-bench times too) and its batch preparation read nothing back:
    no item/float/bool/tolist/cpu, no data-dependent shapes, with the chunked loss, on padded
    and full windows (device_batch passes no mask); a padded batch's mask check would be seen."""
    import llmts.train.loop
    from tests.helpers.syncs import count_syncs

    counts = []

    def counted(fn):
        def wrapper(*a, **kw):
            with monkeypatch.context() as m, count_syncs(m) as c:
                out = fn(*a, **kw)
            counts.append(c)
            return out

        return wrapper

    monkeypatch.setattr(llmts.train.loop, "train_step", counted(llmts.train.loop.train_step))
    monkeypatch.setattr(llmts.train.loop, "device_batch", counted(llmts.train.loop.device_batch))
    assert (windows[0].attention_mask == 0).any() and len(windows[0]) >= 4
    _, result = run_train(
        tmp_path,
        windows,
        "train.max_steps=4",
        "train.log_every=2",
        "train.chunked_loss=true",
        "train.grad_accum=2",
        "train.eval_every=0",
    )
    assert len(counts) == 4 * 3 and all(c.count.total() == 0 for c in counts), [
        c.where for c in counts if c.count.total()
    ][:1]
    assert [r["step"] for r in result.history if "loss" in r] == [1, 2, 3, 4]
    # The counter can fail: a padded batch goes through transformers' mask check.
    cfg = compose("model=tiny")
    model = build_model(cfg.model, cfg.lora, 0)
    w = windows[0]
    padded = int((w.attention_mask == 0).any(1).nonzero()[0])
    batch = w.batch([padded])
    with monkeypatch.context() as m, count_syncs(m) as c:
        CausalLMLoss(model, 64)(**batch)
    assert c.count["_local_scalar_dense"] >= 1


def test_non_finite_step_is_named_from_the_window_read(tmp_path, windows, monkeypatch):
    """Read every 4 steps: NaN at step 3 is still reported as step 3, and the checkpoint
    written before it (step 2) is the last one."""
    interrupt_at(monkeypatch, 3, lambda loss: loss * math.nan)
    with pytest.raises(LlmtsError, match="step 3: non-finite loss"):
        run_train(
            tmp_path,
            windows,
            "train.max_steps=8",
            "train.save_every=2",
            "train.log_every=4",
            "train.eval_every=0",
        )
    assert ckpt.find_latest(tmp_path).name == "step-2"


def test_history_rows_per_step_with_a_window_average_speed(tmp_path, windows):
    _, result = run_train(
        tmp_path, windows, "train.max_steps=6", "train.log_every=3", "train.eval_every=0"
    )
    rows = [r for r in result.history if "loss" in r]
    assert [r["step"] for r in rows] == list(range(1, 7))
    assert rows[0]["tokens_per_s"] == rows[2]["tokens_per_s"] > 0  # one window, one average
    lines = (tmp_path / "train_history.csv").read_text().splitlines()
    assert len(lines) == 1 + 6


def test_fp16_overflow_step_is_skipped_by_the_loss_scaler(tmp_path, windows, monkeypatch, caplog):
    """With a GradScaler (fp16 on a GPU; stood in for on CPU) an overflowing step is skipped:
    weights unchanged, scale lowered, the run goes on: not a non-finite-gradients error."""
    from accelerate import Accelerator

    monkeypatch.setattr(Accelerator, "mixed_precision", property(lambda self: "fp16"))
    accelerator = make_accelerator("no")
    accelerator.native_amp = True  # unscale before clipping, as with fp16 on a GPU
    # loss x 2^127 overflows fp32: every gradient is inf, as an fp16 overflow would make them
    accelerator.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**127, backoff_factor=2.0**-16)
    cfg = compose("model=tiny", "lora=none", "train.max_steps=1", "train.eval_every=0")
    model = build_model(cfg.model, cfg.lora, cfg.seed)
    before = trainable_state(model)
    with caplog.at_level("WARNING", logger="llmts.train.loop"):
        result = train(
            model,
            windows[0],
            windows[1],
            cfg.train,
            cfg.optimizer,
            seed=cfg.seed,
            run_dir=tmp_path,
            tracker=NullTracker(),
            accelerator=accelerator,
            flops_per_step=1.0,
        )
    after = trainable_state(model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert accelerator.scaler.get_scale() == 2.0**111
    assert (
        math.isfinite(result.history[-1]["loss"])
        and "skipped the update of step(s) 1" in caplog.text
    )


@pytest.mark.slow  # dynamo traces forward + backward for seconds
def test_compiled_step_is_one_graph_with_the_eager_losses_and_weights(
    tmp_path, windows, monkeypatch
):
    """train.compile=step: the loss forward (+ backward) compiled whole, fullgraph (a graph
    break would raise); dynamo's eager backend stands in for inductor/CUDA graphs on a CPU.
    Losses equal eager's to float tolerance; so do the trained weights, to 1 % of the furthest
    Adam can move a weight in its steps (lr per step): Adam divides each gradient by its own RMS,
    so a rounding difference in a near-zero gradient (the compiled graph orders sums its own
    way) moves that weight by a visible fraction of lr (seen: 2e-3·lr on transformers 5.17)."""
    import llmts.train.loss

    calls = []
    real = torch.compile

    def eager_compile(module, **kw):
        calls.append(kw)
        return real(module, **{**kw, "backend": "eager", "mode": None})

    monkeypatch.setattr(llmts.train.loss.torch, "compile", eager_compile)
    n = 3
    steps = (
        f"train.max_steps={n}",
        f"train.eval_every={n}",
        "train.val_batches=1",
        "train.chunked_loss=true",
    )
    full = (full_windows(windows[0]), windows[1])
    eager, a = run_train(tmp_path / "eager", full, *steps)
    compiled, b = run_train(tmp_path / "step", full, *steps, "train.compile=step")
    assert calls == [{"fullgraph": True, "mode": None}]  # CPU: no reduce-overhead
    la, lb = ([r.get("loss", r.get("val_loss")) for r in res.history] for res in (a, b))
    assert np.allclose(la, lb, rtol=1e-5), (la, lb)
    sa, sb = trainable_state(eager), trainable_state(compiled)
    assert all(torch.allclose(sa[k], sb[k], atol=0.01 * LR * n) for k in sa)


@pytest.mark.slow  # dynamo traces forward + backward for seconds
def test_compiled_bf16_step_takes_padded_and_full_batches_in_one_graph(
    tmp_path, windows, monkeypatch
):
    """The GPU recipe on a CPU: train.compile=step (fullgraph; dynamo's eager backend for
    inductor) under bf16 autocast, on windows with and without padding (no mask: one graph
    for both), compiled once, with eager bf16's losses to bf16 tolerance."""
    import llmts.train.loss

    calls, real = [], torch.compile

    def eager_compile(module, **kw):
        calls.append(kw)
        return real(module, **{**kw, "backend": "eager", "mode": None})

    monkeypatch.setattr(llmts.train.loss.torch, "compile", eager_compile)
    assert (windows[0].attention_mask == 0).any() and windows[0].attention_mask.all(1).any()
    steps = ("train.max_steps=4", "train.eval_every=4", "train.val_batches=1")
    _, a = run_train(tmp_path / "eager", windows, *steps, precision="bf16")
    _, b = run_train(tmp_path / "step", windows, *steps, "train.compile=step", precision="bf16")
    assert calls == [{"fullgraph": True, "mode": None}]
    la, lb = ([r.get("loss", r.get("val_loss")) for r in res.history] for res in (a, b))
    assert np.allclose(la, lb, rtol=2e-2), (la, lb)


def test_gradient_accumulation_equals_the_larger_batch(tmp_path, windows):
    """batch 2 x 2 micro-batches = batch 4: the same windows (micro-batch b of step s is global
    micro-batch s·2 + b) and the same loss scaling (each backward gets loss / 2), so the same
    weights, on windows without padding (where per-micro-batch means equal the batch mean)."""
    unpadded = (full_windows(windows[0]), windows[1])
    assert len(unpadded[0]) >= 8
    steps = ("train.max_steps=3", "train.eval_every=0", "train.save_every=3")
    big, res_big = run_train(tmp_path / "big", unpadded, *steps)
    acc, res_acc = run_train(
        tmp_path / "acc", unpadded, *steps, "train.batch_size=2", "train.grad_accum=2"
    )
    losses = lambda r: [h["loss"] for h in r.history if "loss" in h]  # noqa: E731
    assert losses(res_acc) == pytest.approx(losses(res_big), rel=1e-5)
    for (name, a), b in zip(acc.named_parameters(), big.parameters()):
        if name.endswith("k_proj.bias"):
            # Softmax ignores a key bias (it adds q·b to every score of a query): its gradient is
            # rounding noise, which AdamW's normalisation turns into full-size, noise-driven steps.
            continue
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=name)
    other, _ = run_train(tmp_path / "other", unpadded, *steps, "train.batch_size=2")
    assert not torch.equal(next(other.parameters()), next(big.parameters()))  # it can differ


@pytest.mark.parametrize(
    "schedule, factors",
    [
        # warmup 2 of 6 steps: (s + 1) / 2, then f = (s - 2) / 4 after warmup
        ("constant", [0.5, 1.0, 1.0, 1.0, 1.0, 1.0]),
        ("linear", [0.5, 1.0, 1.0, 0.75, 0.5, 0.25]),  # 1 - f
        ("cosine", [0.5, 1.0, 1.0, 0.8535534, 0.5, 0.1464466]),  # (1 + cos(pi f)) / 2
    ],
)
def test_warmup_then_schedule_by_hand(schedule, factors):
    from llmts.train.loop import make_scheduler

    opt_cfg = compose(
        f"optimizer.schedule={schedule}", "optimizer.warmup_steps=2", "optimizer.lr=0.1"
    ).optimizer
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=opt_cfg.lr)
    sched = make_scheduler(opt, opt_cfg, max_steps=6)
    seen = []
    for _ in range(6):
        seen.append(opt.param_groups[0]["lr"] / opt_cfg.lr)
        opt.step()
        sched.step()
    assert seen == pytest.approx(factors, abs=1e-7)


@pytest.mark.parametrize("chunked", [False, True])
def test_a_right_padded_batch_without_its_mask_has_the_masked_loss(windows, chunked):
    """device_batch drops the mask: causal attention keeps every real position from seeing the
    right padding after it, and the padding is labelled −100, so the loss is the same."""
    from llmts.train.loop import device_batch

    w = windows[0]
    padded = (w.attention_mask == 0).any(1).nonzero()[:, 0].tolist()
    full = w.attention_mask.all(1).nonzero()[:, 0].tolist()
    rows = padded[:2] + full[:2]
    assert len(rows) == 4, "the fixture has padded and full windows"
    cfg = compose("model=tiny")
    loss = CausalLMLoss(build_model(cfg.model, cfg.lora, 0), 64 if chunked else 0).eval()
    batch = device_batch(w, rows, "cpu")
    assert batch["attention_mask"] is None
    with torch.no_grad():
        masked = loss(**w.batch(rows))
        assert float(loss(**batch)) == pytest.approx(float(masked), rel=1e-6)


def test_accumulated_micro_batches_give_the_big_batchs_gradient(windows):
    """train_step's loss scaling: the gradient norm (before clipping) of 2 micro-batches of 2
    equals that of one batch of the same 4 unpadded windows."""
    from llmts.train.loop import device_batch, make_step_parts, train_step

    wins = full_windows(windows[0]).select(slice(0, 4))
    cfg = compose("model=tiny", "lora=none", "optimizer.max_grad_norm=null")
    norms = []
    for split in ([[0, 1, 2, 3]], [[0, 1], [2, 3]]):
        model = build_model(cfg.model, cfg.lora, cfg.seed)
        parts, _, _ = make_step_parts(
            model, cfg.optimizer, 1, make_accelerator("no"), chunked=False, compiled="none"
        )
        loss, norm = train_step(parts, [device_batch(wins, r, "cpu") for r in split])
        norms.append((float(loss), float(norm)))
    assert norms[1] == pytest.approx(norms[0], rel=1e-5)


def test_a_log_file_gets_a_progress_line_every_log_every_steps(tmp_path, windows, caplog):
    """Not a terminal (SLURM, nohup, CI): step, loss, lr, tokens/s and an ETA every
    train.log_every steps, so a long job is never silent."""
    import logging

    caplog.set_level(logging.INFO, logger="llmts")
    run_train(tmp_path, windows, "train.max_steps=6", "train.log_every=2", "train.eval_every=0")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("train ")]
    assert [ln.split(" (")[0] for ln in lines] == [
        "train 2/6 steps",
        "train 4/6 steps",
        "train 6/6 steps",
    ]
    assert all(
        "ETA" in ln and "loss=" in ln and "lr=" in ln and "tokens_per_s=" in ln for ln in lines
    )


def test_fp16_without_a_gpu_is_one_line():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: fp16 is allowed")
    with pytest.raises(LlmtsError, match="train.precision=fp16 needs a CUDA GPU"):
        make_accelerator("fp16")


def test_one_process_can_train_at_another_precision_next():
    """An in-process sweep over train.precision (or the bench after a run): Accelerate refused
    a second mixed precision in one process."""
    from llmts.train.loop import make_accelerator

    assert make_accelerator("no").mixed_precision == "no"
    bf16 = make_accelerator("bf16")
    assert bf16.mixed_precision == "bf16" and bf16.native_amp
    assert make_accelerator("no").mixed_precision == "no"


def test_lora_build_and_train_step_raise_no_future_warning(tmp_path, windows):
    """Every LoRA run printed transformers' `is_gradient_checkpointing` deprecation (peft reads
    the alias while wrapping); llmts's own build and step show no FutureWarning."""
    import warnings

    cfg = compose("model=tiny", "train.max_steps=1", "train.batch_size=2", "train.eval_every=0")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = build_model(cfg.model, cfg.lora, cfg.seed)
        train(
            model,
            windows[0],
            windows[1],
            cfg.train,
            cfg.optimizer,
            seed=cfg.seed,
            run_dir=tmp_path,
            tracker=NullTracker(),
            accelerator=make_accelerator("no"),
            flops_per_step=1.0,
        )
    assert cfg.lora.enabled
    assert [str(w.message) for w in caught if issubclass(w.category, FutureWarning)] == []


def test_run_files_and_checkpoints_get_the_umask_mode(tmp_path, windows):
    """Checkpoints were 0700 folders (mkdtemp) of 0600 JSON, and train_history.csv 0600
    (mkstemp), under umask 022: colleagues on a shared cluster could not read them."""
    import os

    old = os.umask(0o022)
    try:
        run_train(tmp_path, windows, "train.max_steps=2")
    finally:
        os.umask(old)
    folder = tmp_path / "checkpoints" / "step-2"
    assert folder.stat().st_mode & 0o777 == 0o755
    for path in (
        folder / ckpt.STATE,
        folder / ckpt.TRAINABLE_FILE,
        folder / "optimizer.pt",
        tmp_path / "train_history.csv",
    ):
        assert path.stat().st_mode & 0o777 == 0o644, path.name


def test_validation_loss_and_checkpoint_saves_are_logged_one_line_each(tmp_path, windows, caplog):
    """The validation loss reached only train_history.csv and checkpoint saves were silent."""
    import logging

    with caplog.at_level(logging.INFO, logger="llmts"):
        _, result = run_train(tmp_path, windows, "train.max_steps=4", "train.save_every=2")
    lines = [r.getMessage() for r in caplog.records]
    vals = [r["val_loss"] for r in result.history if "val_loss" in r]
    assert [ln for ln in lines if ln.startswith("validation at step")] == [
        f"validation at step {s}: val_loss={v:.4f}" for s, v in zip((0, 2, 4), vals)
    ]
    assert [ln for ln in lines if ln.startswith("saved checkpoint")] == [
        f"saved checkpoint {tmp_path / 'checkpoints' / f'step-{s}'}" for s in (2, 4)
    ]


def tiny_model():
    """The model :func:`run_train` starts from."""
    cfg = compose("model=tiny", "lora=none")
    return build_model(cfg.model, cfg.lora, cfg.seed)


def rising_validation(monkeypatch):
    """Validation losses that rise as training lowers the real one (its negative): a function of
    the weights, so a resumed run sees the same values as the uninterrupted one."""
    import llmts.train.loop

    real = llmts.train.loop.evaluate_loss
    monkeypatch.setattr(llmts.train.loop, "evaluate_loss", lambda *a: -real(*a))


def test_best_val_keeps_the_lowest_validation_and_resumes_exactly(tmp_path, windows, monkeypatch):
    rising_validation(monkeypatch)
    opts = ("train.select=best_val", "train.max_steps=6", "train.save_every=3")
    base = trainable_state(tiny_model())
    model, result = run_train(tmp_path / "full", windows, *opts)
    assert result.steps == 6 and result.selected_step == 0
    assert result.best_val_loss == result.history[0]["val_loss"]
    state = trainable_state(model)
    assert all(torch.equal(state[k], base[k]) for k in base)  # step 0's weights, not step 6's
    assert ckpt.find_selected(tmp_path / "full").name == "step-0"
    assert ckpt.find_latest(tmp_path / "full").name == "step-6"
    crash_at(monkeypatch, 5, tmp_path / "cut", windows, *opts)
    resumed_model, resumed = run_train(tmp_path / "cut", windows, *opts, "train.resume=auto")
    assert resumed.selected_step == 0 and resumed.best_val_loss == result.best_val_loss
    other = trainable_state(resumed_model)
    assert all(torch.equal(other[k], state[k]) for k in state)


def test_best_val_picks_a_middle_step_and_last_keeps_the_end(tmp_path, windows, monkeypatch):
    import llmts.train.loop

    losses = iter([3.0, 2.0, 1.0, 4.0])  # validations at steps 0, 2, 4, 6
    monkeypatch.setattr(llmts.train.loop, "evaluate_loss", lambda *a: next(losses))
    model, result = run_train(
        tmp_path / "best", windows, "train.select=best_val", "train.max_steps=6"
    )
    assert result.selected_step == 4 and result.best_val_loss == 1.0 and result.steps == 6
    saved = ckpt.checkpoint_root(tmp_path / "best") / "step-4"
    ckpt.load_trainable(check := tiny_model(), saved)
    a, b = trainable_state(model), trainable_state(check)
    assert all(torch.equal(a[k], b[k]) for k in a)
    losses = iter([3.0, 2.0, 1.0, 4.0])  # noqa: F841 - read by the patched evaluate_loss
    _, last = run_train(tmp_path / "last", windows, "train.max_steps=6")  # select=last
    assert last.selected_step == 6 and ckpt.find_selected(tmp_path / "last").name == "step-6"


def test_early_stopping_after_patience_validations(tmp_path, windows, monkeypatch):
    rising_validation(monkeypatch)
    opts = ("train.select=best_val", "train.max_steps=6", "train.early_stopping=2")
    _, result = run_train(tmp_path, windows, *opts)
    assert result.steps == 4 and result.selected_step == 0  # validations at 0, 2 (stale), 4
    assert ckpt.find_latest(tmp_path).name == "step-4"
    _, again = run_train(tmp_path, windows, *opts, "train.resume=auto")  # nothing left to train
    assert again.steps == 4 and again.selected_step == 0
