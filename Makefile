# The two commands: `make run` and `make test`. Everything installs into .venv; nothing needs root.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Test processes for make test (pytest-xdist); each starts its own Redis and database.
TEST_WORKERS ?= 3

.PHONY: run test lint format messages translations bench cluster mutants clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m devtools.run_local

test: $(STAMP)
	@bash devtools/ensure_packages.sh chromium nginx
	$(PY) -m pytest -n $(TEST_WORKERS) $(TEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --config pyproject.toml --no-cache

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The shopper pages' translations (README "Translations"). `make messages` extracts every text the
# Python and the templates pass to gettext (babel.cfg) and brings both catalogues in step with it;
# `make translations` compiles them into the .mo files the app reads (committed, so a fresh clone
# runs as it is; tests/test_translations.py checks they match their .po files).
TRANSLATIONS := shop/web/translations

messages: $(STAMP)
	$(VENV)/bin/pybabel extract -F babel.cfg --add-location=file --sort-output --project=Kilat \
		--copyright-holder=Kilat -o $(TRANSLATIONS)/messages.pot .
	$(VENV)/bin/pybabel update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) \
		--no-fuzzy-matching --ignore-obsolete

translations: $(STAMP)
	$(VENV)/bin/pybabel compile -d $(TRANSLATIONS) --statistics

# The benchmark suite (bench/README.md): a few minutes; PostgreSQL on 127.0.0.1:5432 for all but SQLite.
# BENCH_ARGS passes options through, e.g. `make bench BENCH_ARGS="--profile"` or "--only hot_sku".
bench: $(STAMP)
	$(PY) -m pip install --quiet -r requirements-bench.txt
	$(PY) -m bench $(BENCH_ARGS)

# The multi-host simulation (bench/cluster): hosts as network namespaces (root), nginx in front,
# Redis with Sentinel, a private PostgreSQL; one spike per fault, then its table. CLUSTER_ARGS: e.g.
# "--only worker", "--shoppers 300".
cluster: $(STAMP)
	@bash devtools/ensure_packages.sh --required nginx
	$(PY) -m bench.cluster $(CLUSTER_ARGS)

# Deliberate faults (devtools/faults.py), one at a time in a copy of the tree; every one must be
# killed by its tests. Not part of `make test`. MUTANTS_ARGS: e.g. "--only waitlist_newest_first", "--list".
mutants: $(STAMP)
	$(PY) -m devtools.mutants $(MUTANTS_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
