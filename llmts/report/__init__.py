"""What results become: a run's files and console table (:mod:`~llmts.report.run`), the sweep
report of a multirun dir (:mod:`~llmts.report.sweep`, also its Hydra callback) with seed
aggregation and paired bootstrap differences (:mod:`~llmts.report.compare`), the benchmark's
leaderboard (:mod:`~llmts.report.leaderboard`) and the Markdown tables
(:mod:`~llmts.report.markdown`)."""
