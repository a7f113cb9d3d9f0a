"""The run configuration: the pydantic schema and its loader (`schema`), the YAML read with limits
(`yaml_limits`), path fields read one way (`paths`) and error lines that quote a user's value
(`messages`). The shipped YAML files sit beside this package, in `experiments/configs/`.

May import: the libraries (`augment`, `xai`) and, for the factor names a config may list,
`experiments.inputs.file_factors`; nothing else of `experiments`."""
