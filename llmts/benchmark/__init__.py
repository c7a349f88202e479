"""``llmts-benchmark``: many tasks, one leaderboard. Which tasks and their horizon, season and
windows (:mod:`~llmts.benchmark.tasks`), the recipe that runs every model and the statistical
baselines on them (:mod:`~llmts.benchmark.recipe`), and the leaderboard aggregated from the
per-task results (:mod:`~llmts.benchmark.leaderboard`)."""
