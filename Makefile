# The README's two commands: `make demo` and `make test`. Each is self-sufficient
# on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench eval tune hygiene corpus-check system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("digestbot needs Python 3.11+") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,eval,postgres]'
	touch $@

demo: $(STAMP)
	$(VENV)/bin/digestbot demo

# Dovecot and PostgreSQL are the real servers the integration tests start on loopback.
system-deps:
	@bash .ci/system-deps

test: $(STAMP) system-deps
	$(PY) -m pytest -q
	$(VENV)/bin/ruff check bot tests
	$(VENV)/bin/mypy

lint: $(STAMP)
	$(VENV)/bin/ruff check bot tests
	$(VENV)/bin/mypy

# mbsync (isync) is the IMAP benchmark's anchor (system-deps installs it too: the tiny run in `make test` needs it).
bench: $(STAMP) system-deps
	@bash .ci/bench-deps
	$(PY) -m bot.tools.bench $(ARGS)

eval: $(STAMP)
	$(PY) -m bot.tools.evaluate $(if $(CORPUS),$(CORPUS),../shared/corpora/bc3-dev) $(if $(CONFIG),--config $(CONFIG))

# Fits the summary's score weights on BC3 and writes bot/pipeline/summarize/weights.json (never at run time).
tune: $(STAMP)
	$(PY) -m bot.tools.tune $(if $(CORPUS),$(CORPUS),../shared/corpora/bc3-dev)

# Drafts every busy week of the real lists and counts what a reader trips over (../shared/tools/hygiene.py).
hygiene: $(STAMP)
	$(PY) -m bot.tools.hygiene_check $(if $(CORPUS),$(CORPUS),../shared/corpora/lists)

corpus-check: $(STAMP)
	$(PY) -m bot.tools.corpus_check $(if $(CORPUS),$(CORPUS),../shared/corpora)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
