"""experiments: artxai runs. `run` is the CLI, `runner` the flow of a run (its STAGES over one
context), `preflight` what is checked before anything is created, `console` what a run prints,
`manifest` what it records.
Sub-packages, each saying what it may import: config/, inputs/, models/, stages/, stats/,
rundir/, report/, execution/. The libraries augment/ and xai/ never import this package."""

import time

STARTED = time.perf_counter()  # before anything heavy is imported: a run's start-up is timed from here
