"""The stages of a run, in the order the runner calls them: scoring every variant with every
model (`scoring`), the score tables (`score_tables`), classification metrics (`evaluation`),
explanations (`explanations`, over `explain_maps`, `explain_cache`, `explain_pictures` and
`explain_trust`), the shortcut audit (`audit`), cross-set evaluation (`eval_sets`) and
the study's claims (`claims`). Each returns tables; the runner (`experiments.runner`) writes them.

May import: `experiments.context`, `config`, `inputs`, `models`, `stats`, `rundir`, `execution` and
the libraries; never the report, the runner or the CLI (tests/test_layout.py)."""
