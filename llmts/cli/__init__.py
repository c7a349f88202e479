"""Every entry point, each a thin function over its typed config that calls the library (the
library never imports from here): ``llmts`` (:mod:`~llmts.cli.main`), ``llmts-flops``,
``llmts-bench``, ``llmts-forecast``, ``llmts-report``."""
