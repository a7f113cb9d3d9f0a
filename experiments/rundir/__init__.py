"""The run folder: atomic file writes (`atomic`), part files `--resume` keeps (`parts`), one run at
a time and when a folder may be started in, resumed or cleared (`runfolder`). What a finished run
records about itself is experiments.manifest.

May import: `experiments.config` and the standard library, pandas."""
