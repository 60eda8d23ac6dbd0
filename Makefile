# xai — developer entry points. Everything the project needs is installed here.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
DEMO_OUT ?= demo_output

CHROMIUM ?= /usr/bin/chromium

.PHONY: install browser test lint typecheck demo dashboard bench docs clean

install: $(STAMP)

# Re-installs when the project's dependency files change.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test,dashboard]"
	@touch $(STAMP)

lint: install
	$(VENV)/bin/ruff check .

# mypy on the packages listed under [tool.mypy] in pyproject.toml (cache in .mypy_cache).
typecheck: install
	$(VENV)/bin/mypy

# Headless Chromium (Debian's package) for the browser tests of the HTML report. Needs root
# and the Debian registry; without them the browser tests skip, saying why.
browser:
	@test -x $(CHROMIUM) || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] \
		&& (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "warning: could not install chromium; browser tests will be skipped"; }

test: lint typecheck browser
	$(PY) -m pytest

demo: install
	$(PY) -m xai demo --out $(DEMO_OUT)

# Starts the Streamlit dashboard on 127.0.0.1 and prints its address (PORT=8501 by default).
PORT ?= 8501
dashboard: install
	$(VENV)/bin/xai dashboard --port $(PORT)

bench: install
	$(PY) -m benchmarks

docs: install
	$(PY) docs/examples/run_all.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .ruff_cache .mypy_cache
