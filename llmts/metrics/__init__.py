"""The metrics stage: point and sample metrics (:mod:`~llmts.metrics.point`), the forecasting
benchmarks' MASE, sMAPE, WAPE, WQL and SQL (:mod:`~llmts.metrics.scaled`), NLL/D of the true
continuation (:mod:`~llmts.metrics.likelihood`), bootstrap intervals and skill
(:mod:`~llmts.metrics.bootstrap`), persistence, seasonal naive from the context and the ODE fit
(:mod:`~llmts.metrics.baselines`), statsforecast's baselines fitted on the history
(:mod:`~llmts.metrics.statistical`), physical checks (:mod:`~llmts.metrics.physics`), the
evaluation of a run's test forecasts (:mod:`~llmts.metrics.evaluate`) and what a run returns
to a sweeper (:mod:`~llmts.metrics.objective`)."""

from llmts.metrics.point import point_forecast, point_metrics, sample_metrics

__all__ = ["point_forecast", "point_metrics", "sample_metrics"]
