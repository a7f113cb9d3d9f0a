"""The stages of a run, one module (or sub-package, when it has helpers) each, listed in run order
by `experiments.runner.STAGES`: `scoring`, `score_tables`, `evaluation`, `corruption`, `generators`,
`model_cards`, `model_comparison`, `audit`, `cue_reversal`, `eval_sets`, `cross_generator`,
`explanations`. Each has one entry point, `run(ctx)` over the run's `experiments.context.RunContext`,
returning its tables by name ({} when it has nothing to do) or an exit status to stop the run; the
runner writes and keeps every table (`RunContext.keep`). This folder holds stages and nothing else.

May import: `experiments.context`, `experiments.manifest`, `config`, `inputs`, `models`, `stats`,
`rundir`, `execution`, another stage's helpers and the libraries; never the report, the runner or
the CLI (tests/test_layout.py)."""
