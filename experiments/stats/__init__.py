"""The statistics behind every number: intervals (Wilson, bootstrap, stratified draws), paired
and unpaired differences, the one verdict rule and each metric's direction as data
(`statistics`); classification metrics as plain functions, point and bootstrap-weighted
(`metrics`). Pure functions.

May import: numpy, scipy, statsmodels, scikit-learn; nothing else of `experiments`."""
