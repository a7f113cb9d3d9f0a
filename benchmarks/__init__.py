"""Benchmarks: `make bench` runs each as `python -m benchmarks.<name>`. Not part of the installed
package; they use only the library's public functions (experiments.runner.execute,
experiments.preflight.load_detectors / resolver_for, ...). Their figures: docs/benchmarks.md."""
