"""The statistics behind every number: intervals (Wilson, bootstrap), paired and unpaired
differences and verdicts (`statistics`, `intervals`). Pure functions.

May import: numpy, scipy, statsmodels; nothing else of `experiments` (today `intervals` still takes
its metric functions from `experiments.stages.evaluation`)."""
