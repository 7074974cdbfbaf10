# skyspool: `make demo` and `make test` work on a fresh machine (Python 3.11, Debian).
#   make demo    create .venv, install, run the pipeline on sample alerts: a line per alert, the
#                status table, where products are (Snakemake's output: demo/spool/logs/demo.log)
#   make test    create .venv, install, run the test suite (with `snakemake --lint`)
#   make lint    ruff check, snakefmt --check and snakemake --lint (tests/test_lint.py runs the first two,
#                tests/test_workflow.py the third)
#   make fix-lint  every automatic fix (ruff check --fix, snakefmt), then `make lint` for what is left

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test lint fix-lint system-deps test-deps gcn-schema clean

# pygedm (Milky Way DM for FRBs) compiles against f2c; Debian ships it as libf2c2-dev.
system-deps:
	@dpkg -s libf2c2-dev >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq libf2c2-dev; \
	  else echo "please install Debian's libf2c2-dev (sudo apt-get install libf2c2-dev)"; exit 1; fi; }

# The dashboard tests drive Debian's chromium, headless, with Playwright (never a downloaded browser).
test-deps:
	@dpkg -s chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else echo "please install Debian's chromium (sudo apt-get install chromium)"; exit 1; fi; }

$(INSTALLED): pyproject.toml constraints.txt
	$(MAKE) system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	# GWCelery 3.0.0 as the parity tests' reference only (tests/test_gwcelery_parity.py loads its
	# rules without a broker); its own dependencies are not needed and not installed.
	$(BIN)/python -m pip install -q --no-deps gwcelery==3.0.0
	# ligo.em-bright 1.2.0 pins scikit-learn 1.2.1 (built for numpy 1): installed without its
	# pins; its dependencies (scikit-learn, h5py, pandas, lalsuite) come from pyproject.toml.
	$(BIN)/python -m pip install -q --no-deps -c constraints.txt ligo.em-bright==1.2.0
	$(MAKE) gcn-schema
	touch $@

# GCN JSON notices are validated against nasa-gcn/gcn-schema, the npm package @nasa-gcn/schema
# (skyspool.formats.gcnschema reads it from the venv's share/gcn-schema).
GCN_SCHEMA_VERSION := 7.2.3
gcn-schema:
	@command -v npm >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq npm; \
	  else echo "please install Debian's npm (sudo apt-get install npm)"; exit 1; fi; }
	mkdir -p $(VENV)/share/gcn-schema
	npm install --no-save --no-audit --no-fund --prefix $(VENV)/share/gcn-schema \
	  @nasa-gcn/schema@$(GCN_SCHEMA_VERSION)

demo: $(INSTALLED)
	$(BIN)/python -m skyspool.demo demo

test: $(INSTALLED) test-deps
	$(BIN)/python -m pytest -q

# The tools' settings are in pyproject.toml ([tool.ruff], [tool.snakefmt]).
LINT_SNAKEMAKE := Snakefile workflow

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check $(LINT_SNAKEMAKE)
	$(BIN)/snakemake --lint --config spool=$$(mktemp -d)

fix-lint: $(INSTALLED)
	$(BIN)/ruff check --fix --exit-zero .
	$(BIN)/snakefmt $(LINT_SNAKEMAKE)
	$(MAKE) lint

clean:
	rm -rf $(VENV) demo
