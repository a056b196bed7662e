# sciope_abs — the two commands of the Quick start: `make demo` and `make test`.
# Everything runs inside .venv without activating it: the venv's bin/ is put on PATH so that
# GillesPy2 finds SCons to build its C++ solvers (workers inherit this PATH too).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)
export GILLESPY2_TMPDIR ?= $(abspath .)/.build/gillespy2
PYTEST_ARGS ?=

.PHONY: install demo test test-slow bench docs clean

$(VENV)/.installed: setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel setuptools
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/sciope-abs demo

test: install
	$(VENV)/bin/ruff check sciope_abs tests benchmarks
	$(VENV)/bin/mypy
	$(PY) -m pytest $(PYTEST_ARGS)

test-slow: install
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

bench: install
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

docs: install
	$(PY) -m pip install -q -e ".[docs]"
	$(PY) -m sphinx -W -b html docs docs/_build/html

clean:
	rm -rf .build docs/_build demo_output .pytest_cache
