# xai — developer entry points. Everything the project needs is installed here.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
DEMO_OUT ?= demo_output

.PHONY: install test lint demo bench docs clean

install: $(STAMP)

# Re-installs when the project's dependency files change.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test]"
	@touch $(STAMP)

lint: install
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest

demo: install
	$(PY) -m xai demo --out $(DEMO_OUT)

bench: install
	$(PY) -m benchmarks

docs: install
	$(PY) docs/examples/run_all.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .ruff_cache
