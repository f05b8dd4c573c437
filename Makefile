# The commands people type. `make demo` and `make test` set everything up on a fresh machine:
# they install uv (with pip, into .tools/) when it is missing, create .venv from uv.lock, and run.

UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
# --durations: CI's log names the slowest tests (the suite must stay well inside CI's 30 minutes).
PYTEST_ARGS ?= -n 2 --durations=25

.PHONY: demo test setup lint bench clean

demo: setup
	$(UV) run churn demo

test: setup
	$(UV) run pytest $(PYTEST_ARGS)

setup: $(UV)
	$(UV) sync --frozen

lint: setup
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy

bench: setup
	$(UV) run python benchmarks/generate.py

$(CURDIR)/.tools/bin/uv:
	python3 -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install --quiet uv

clean:
	rm -rf data .tools test-output
