# Two commands do all set-up on a fresh machine:
#   make demo   creates .venv, installs artxai, runs the default study (robustness.yaml)
#   make test   creates .venv, installs artxai with test tools, runs the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The study's files: a mirror folder when one sits beside the checkout (as ../shared does for
# developers and CI), else artxai downloads them from the study's repository into ~/.cache.
SEED_MIRROR := $(wildcard $(abspath ../shared/seed-assets))
export ARTXAI_SEED_MIRROR ?= $(SEED_MIRROR)
export ARTXAI_REAL_MINI ?= $(wildcard $(abspath ../shared/real-mini))
export ARTXAI_CIFAKE ?= $(wildcard $(abspath ../shared/cifake))
export ARTXAI_ART6GEN ?= $(wildcard $(abspath ../shared/art-6gen))

.PHONY: demo test study mini cifake art notebooks bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,ray]'
	touch $@

demo: $(VENV)/.installed
	$(PY) -m experiments.run robustness.yaml --resume

study: $(VENV)/.installed
	$(PY) -m experiments.run study_table.yaml --resume

test: $(VENV)/.installed
	bash tools/install_browser.sh
	$(PY) -m pytest -q --durations=15

mini: $(VENV)/.installed
	$(PY) -m experiments.run real_mini.yaml --resume

cifake: $(VENV)/.installed
	$(PY) -m experiments.run cifake.yaml --resume

art: $(VENV)/.installed
	$(PY) -m experiments.run art.yaml --resume

notebooks: $(VENV)/.installed
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[notebooks]'
	$(VENV)/bin/jupyter lab notebooks/

bench: $(VENV)/.installed
	$(PY) -m benchmarks.runner_vs_study
	$(PY) -m benchmarks.explain
	$(PY) -m benchmarks.demo
	$(PY) -m benchmarks.dataset
	$(PY) -m benchmarks.intervals
	$(PY) -m benchmarks.corruption_suite
	$(PY) -m benchmarks.training
	$(PY) -m benchmarks.executors
	$(PY) -m benchmarks.detectors
	$(PY) -m benchmarks.report

clean:
	rm -rf $(VENV) results/*/
