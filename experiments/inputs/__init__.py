"""What a run reads: the study's files (`assets`), safe decoding and preprocessing (`images`),
folder listing (`folders`), class from folder names (`labels`), datasets on disk (`datasets`),
sample sets (`samples`), what a file says besides its picture (`file_factors`) and the digests of
the files a number was made from (`fingerprints`).

May import: `experiments.config`, `experiments.rundir` and the libraries; never `experiments.models`
(a model's training fingerprint is `experiments.models.training_fingerprint`)."""
