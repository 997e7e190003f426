# Two commands on a fresh machine (Python >= 3.11): `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO   := demo

.PHONY: demo test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[dev,spark]"
	touch $@

# simulate -> train -> match on the built-in small example (500 merchants x 5,000 creators)
demo: $(BIN)/.installed
	$(BIN)/matching simulate --out $(DEMO)/data --seed 0
	$(BIN)/matching train --data $(DEMO)/data --model-dir $(DEMO)/model
	$(BIN)/matching match --data $(DEMO)/data --model $(DEMO)/model --out $(DEMO)/out --as-of 2026-03-01

test: lint
	$(BIN)/python -m pytest -q

lint: $(BIN)/.installed
	$(BIN)/ruff format --check matching tests benchmarks
	$(BIN)/ruff check matching tests benchmarks

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/bench_allocation.py

clean:
	rm -rf $(DEMO) mlruns mlflow.db
