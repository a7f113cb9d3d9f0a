"""The run configuration: the pydantic schema and its loader (`schema`), the YAML read with limits
(`yaml_limits`), path fields read one way (`paths`) and error lines that quote a user's value
(`messages`). The shipped YAML files sit beside this package, in `experiments/configs/`.

May import: the libraries (`augment`, `xai`); nothing of `experiments` (the file factors a config
may list, `FACTORS`, are declared here and read by `experiments.inputs.file_factors`)."""
