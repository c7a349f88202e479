"""Compute and speed: the study's analytic FLOPs accounting and FLOPs plans
(:mod:`~llmts.perf.flops`), wall-time estimates from a ``bench.json``
(:mod:`~llmts.perf.estimate`), and the benchmark (:mod:`~llmts.perf.bench`,
:mod:`~llmts.perf.train_bench`) with its timing helpers (:mod:`~llmts.perf.measure`)."""

from llmts.perf.flops import flops_plan, format_plan, train_step_flops

__all__ = ["flops_plan", "format_plan", "train_step_flops"]
