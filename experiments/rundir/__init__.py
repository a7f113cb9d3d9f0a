"""The run folder: atomic file writes (`atomic`), part files `--resume` keeps (`parts`), one run at
a time and when a folder may be started in, resumed or cleared (`runfolder`), and the run's
manifest, model cards and timings (`manifest`).

May import: `experiments.config` and the standard library, pandas."""
