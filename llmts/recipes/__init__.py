"""The recipes: each workflow as one readable top-to-bottom function over typed config —
fine-tuning (:mod:`~llmts.recipes.finetune`), pretraining a base
(:mod:`~llmts.recipes.pretrain`) and the benchmark (:mod:`~llmts.recipes.benchmark`). The
entry points in :mod:`llmts.cli` compose a config and call one."""
