# xai — developer entry points. Everything the project needs is installed here.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
DEMO_OUT ?= demo_output

CHROMIUM ?= /usr/bin/chromium

.PHONY: install browser test lint typecheck demo dashboard bench docs clean lock

install: $(STAMP)

# Re-installs when the project's dependency files change. `make test` needs the `dev` extra
# (linters, type checker, test tools) and the `dashboard` extra (Streamlit, for its tests).
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev,dashboard]"
	@touch $(STAMP)

# Regenerates constraints.txt, the lock of the test environment: a clean venv gets what
# `make install` installs (under the current pins; `make lock UPGRADE=1` without them, to move
# to the newest releases), then every package in it is pinned. torch keeps its plain version
# (2.13.0 matches the local CPU build 2.13.0+cpu).
LOCK_VENV ?= $(or $(TMPDIR),/tmp)/xai-lock-venv
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		$(if $(UPGRADE),,-c constraints.txt) -e ".[dev,dashboard]"
	{ echo "# The lock of the test environment: every package a clean \`make install\` installs,"; \
	  echo "# pinned. Written by \`make lock\` (do not edit by hand); pyproject.toml states ranges."; \
	  echo "# torch 2.13.0 is the CPU build available on the project's machines."; \
	  $(LOCK_VENV)/bin/python -m pip freeze --exclude-editable --exclude xai-toolkit \
		| sed -e 's/+cpu$$//' | LC_ALL=C sort -f; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf $(LOCK_VENV)

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
