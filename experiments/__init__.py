"""experiments: orchestration of artxai runs (config, assets, models, samples, scoring, tables)."""
