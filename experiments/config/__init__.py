"""The run configuration: the pydantic schema and its loader (`schema`: the run config itself), its
blocks (`model_blocks`: a model and its training; `sections`: the other sections; `fields`: the
strict base, `ConfigError` and the bounds every block uses), the YAML read with limits
(`yaml_limits`), path fields read one way (`paths`) and error lines that quote a user's value
(`messages`). The shipped YAML files sit beside this package, in `experiments/configs/`.

May import: the libraries (`augment`, `xai`); nothing of `experiments` (the file factors a config
may list, `FACTORS`, are declared in `sections` and read by `experiments.inputs.file_factors`)."""
