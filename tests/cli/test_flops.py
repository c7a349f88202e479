"""``llmts-flops`` in this process: its plan, and an estimate only where the bench applies."""

from __future__ import annotations

from llmts.cli.flops import single, sweep_main
from llmts.perf.estimate import architecture
from tests.helpers import compose
from tests.perf.test_estimate import write_bench


def test_no_estimate_is_printed_where_the_bench_timed_another_architecture(tmp_path, capsys):
    """Issue 22: `sweep ≈ 18.4 min` was printed, then the warning that it does not apply."""
    other = write_bench(tmp_path / "other.json", arch=architecture(compose("model=tiny").model))
    plan = single(compose("train.max_steps=300", f"bench_json={other}", config_name="flops"))
    out = capsys.readouterr().out
    assert "another architecture" in out and "≈" not in out and "estimated_s" not in plan
    assert sweep_main(["sweep=lr", "train.max_steps=300"], str(other)) == 0
    out = capsys.readouterr().out
    assert "another architecture" in out and "≈" not in out and "est. min" not in out
    plan = single(
        compose("model=tiny", "train.max_steps=300", f"bench_json={other}", config_name="flops")
    )
    assert "≈" in capsys.readouterr().out and plan["estimated_s"]["total"] > 0
    assert not list(tmp_path.glob("*flops*"))  # printed only: no output= given


def test_bench_json_on_the_command_line_of_a_sweep(tmp_path, capsys):
    tiny = write_bench(tmp_path / "b.json", arch=architecture(compose("model=tiny").model))
    assert sweep_main(["model=tiny", "lora.r=2,4", f"bench_json={tiny}"]) == 0
    assert "sweep ≈" in capsys.readouterr().out
