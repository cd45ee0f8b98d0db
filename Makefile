# One-command set-up on a fresh clone with only python3 available.
#   make demo   - create .venv, install symbayes, run the main job (`symbayes compare`)
#   make test   - create .venv, install symbayes, run ruff, the tests, the
#                 notebooks (small size) and the strict documentation build
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.symbayes-installed
# pytest workers (pytest-xdist), whole test files per worker so module-scoped
# runs are shared; compilation is mostly single-threaded, so 2 workers use
# both cores of a 2-core machine
PYTEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile

.PHONY: install demo test test-fast lint docs bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/symbayes compare

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(PYTEST)
	SYMBAYES_NOTEBOOK_SMALL=1 $(PYTEST) --nbmake notebooks
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir .site-check
	rm -rf .site-check

test-fast: $(STAMP)
	$(PYTEST) -m "not slow"

docs: $(STAMP)
	$(BIN)/mkdocs build --strict

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py --quick

clean:
	rm -rf $(VENV) site .pytest_cache .ruff_cache
