# The commands a newcomer needs. 'make demo' and 'make test' set everything up on a fresh Debian
# machine with Python 3.11 and pip (Debian packages via apt-get when missing, the kit via pip).
SHELL := /bin/bash
PYTHON ?= python3
PYTEST_ARGS ?=
KIT_DEMO_ARGS ?=

.PHONY: help setup setup-test demo test lint bench reports serve clean

help:
	@echo "make demo   set up, make the demo programme, import, score, build the reports, serve the apps"
	@echo "make test   set up (with PostgreSQL), run the whole test suite"
	@echo "make setup | lint | bench | reports | serve | clean"

setup:
	bash scripts/setup.sh

setup-test:
	bash scripts/setup.sh --test

demo: setup
	kit demo $(KIT_DEMO_ARGS)

# PostgreSQL is started from Debian's packages and KIT_TEST_POSTGRES_URL exported for the
# 'postgres' tests. pytest's exit code 5 (no test collected) is reported as a failure.
test: setup-test
	@set -e; . scripts/start-postgres.sh; \
	rc=0; $(PYTHON) -m pytest -n 2 --timeout 600 -p no:cacheprovider $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: check tests/ and PYTEST_ARGS" >&2; exit 1; fi; \
	exit $$rc

lint: setup
	ruff check kit tests benchmarks

bench: setup
	$(PYTHON) benchmarks/bench_scoring.py
	$(PYTHON) benchmarks/bench_reports.py
	$(PYTHON) benchmarks/bench_results.py
	$(PYTHON) benchmarks/bench_live.py
	$(PYTHON) benchmarks/bench_dashboard.py
	$(PYTHON) benchmarks/bench_survey.py
	$(PYTHON) benchmarks/bench_serve_abuse.py
	$(PYTHON) benchmarks/bench_import.py
	$(PYTHON) benchmarks/bench_presets.py
	$(PYTHON) benchmarks/bench_kernel.py
	$(PYTHON) benchmarks/bench_config.py

reports: setup
	kit report parameters/demo_programme.yaml

serve: setup
	kit serve

# Generated files only: the database (var/kit.sqlite) may hold real answers and is kept;
# 'kit demo --reset' empties it.
clean:
	rm -rf var/demo var/logs var/.setup-* build .pytest_cache .ruff_cache
	find outputs -mindepth 1 ! -name .gitkeep ! -name README.md -exec rm -rf {} +
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
