"""The CNN and its training: the study's architecture and loading trained copies
(`architecture`), the tf.data input of training (`training_data`), training itself (`training`),
what a trained model was made from (`training_fingerprint`), and training, reusing or refusing a
config's `train:` model (`trained_models`). Detectors beyond the CNN: the pinned encoder and head
files they use (`catalogue`), fetched and verified into the cache (`fetch`), and the embeddings
they compute, cached on disk by encoder, preprocessing and pixels (`embedding_cache`).

May import: `experiments.config`, `experiments.inputs`, `experiments.rundir`, `experiments.execution`,
`experiments.stats` (a leaf) and the libraries."""
