"""experiments: orchestration of artxai runs (config, assets, models, samples, scoring, tables)."""

import time

STARTED = time.perf_counter()  # before anything heavy is imported: a run's start-up is timed from here
