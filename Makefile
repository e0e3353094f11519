# The two commands the README opens with: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench setup

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

setup: $(BIN)/python
	$(BIN)/pip install -q -e ".[test,demo]"

demo: setup
	$(BIN)/python examples/digits_demo.py

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 -p no:cacheprovider

bench: setup
	$(BIN)/python bench/op_overhead.py
