"""The sweep report of a multirun dir (:mod:`~llmts.report.sweep`, also its Hydra callback):
seed aggregation and paired bootstrap differences (:mod:`~llmts.report.compare`) and the
Markdown tables (:mod:`~llmts.report.markdown`)."""
