# Two entry points: `make run` (set up and start impasto) and `make test` (set up and pass every check).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck browser bench clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "needs $(PYTHON) on PATH" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/impasto $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

browser: $(STAMP)
	bash scripts/install-browser.sh $(VENV)

test: lint typecheck browser
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/engine_bench.py
	$(BIN)/python bench/store_bench.py
	$(BIN)/python bench/server_bench.py
	$(BIN)/python bench/floor_bench.py
	$(BIN)/python bench/instant_bench.py
	$(BIN)/python bench/sidebar_bench.py
	$(BIN)/python bench/compat_bench.py
	$(BIN)/python -m bench.sd_bench
	$(BIN)/python -m bench.sd_load_bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
