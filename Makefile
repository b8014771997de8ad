# One-command set-up: every target creates .venv and installs ECOpt (with the
# tested versions in constraints.txt) before it runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ecopt-installed
PYTEST_ARGS ?=

.PHONY: install run report lint test test-fast benchmark-meter benchmark-workflow benchmark-mobo benchmark-early-stopping benchmark-slurm constraints clean

$(STAMP): pyproject.toml constraints.txt plugins/snakemake-executor-plugin-ecopt-slurm/pyproject.toml plugins/snakemake-executor-plugin-ecopt-slurm/snakemake_executor_plugin_ecopt_slurm/__init__.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --constraint constraints.txt --editable '.[test,bench,benchmark]'
	# The SLURM profile's executor (snakemake-executor-plugin-slurm with a bounded status poll).
	# Not editable: Snakemake finds executor plugins among installed top-level packages only.
	$(BIN)/python -m pip install --constraint constraints.txt ./plugins/snakemake-executor-plugin-ecopt-slurm
	touch $(STAMP)

install: $(STAMP)

# The main job: the default study end to end.
run: $(STAMP)
	$(BIN)/snakemake --cores 2 all

report: $(STAMP)
	$(BIN)/snakemake --report results/report.html

# The walls CI checks before the tests: ruff (lint and format), snakefmt, import contracts, snakemake --lint.
lint: $(STAMP)
	bash scripts/lint.sh

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Unit tests only: skips real meters, training runs and subprocesses.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

benchmark-meter: $(STAMP)
	$(BIN)/python benchmarks/meter.py

benchmark-workflow: $(STAMP)
	bash benchmarks/workflow.sh

benchmark-mobo: $(STAMP)
	$(BIN)/python benchmarks/mobo.py --timing

benchmark-early-stopping: $(STAMP)
	$(BIN)/python benchmarks/early_stopping.py --problem both --seeds 3 --trials 16 --curves-seeds 5 --curves-trials 20

# The default study on the local SLURM cluster against local, and each job's overhead split
# (needs scripts/slurm-local-start.sh's cluster, and slurmctld's log readable).
benchmark-slurm: $(STAMP)
	$(BIN)/python benchmarks/slurm_overhead.py

constraints: $(STAMP)
	{ head -2 constraints.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -v -e '^ecopt' -e '^snakemake-executor-plugin-ecopt-slurm'; } > constraints.new && mv constraints.new constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache
