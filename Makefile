# Every target does its own set-up: a fresh clone needs nothing but python3 and a C compiler.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEPS := $(VENV)/.deps
LLAMA := $(VENV)/.llama
LLAMA_VERSION := 0.3.36
TEST_MODEL ?= qwen2.5-coder:1.5b
EVAL_DIR ?= ../shared/eval/dev
LIMIT ?=
EXAMPLES ?=
LEARN ?=
SEED ?= 0
KEEP ?=
MODEL ?=
PARTS ?=
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: run test eval bench chaos lint model-server clean

run: $(DEPS)
	@$(BIN)/python -m app probe || $(MAKE) --no-print-directory $(LLAMA)
	$(BIN)/python -m app run

# Classify a labelled folder like the API would; reports go to reports/. LIMIT=n: first n files;
# EXAMPLES=k: k files a category given as examples first; LEARN=1: every verdict checked in turn;
# KEEP=dir: run in a new data folder dir and keep it (every file's embedding, to study offline).
eval: $(DEPS)
	@$(BIN)/python -m app probe || $(MAKE) --no-print-directory $(LLAMA)
	$(BIN)/python -m app.evaluation $(EVAL_DIR) --out reports $(if $(LIMIT),--limit $(LIMIT)) \
		$(if $(EXAMPLES),--examples $(EXAMPLES)) $(if $(LEARN),--learn) --seed $(SEED) \
		$(if $(KEEP),--keep-data $(KEEP))

# Where a file's seconds go (docsort's steps, the model alone, the prompt cache, throughput,
# uploads) on a bundled server it starts; prints figures, writes reports/bench-*.json.
# LIMIT=n: files (20); MODEL=: another model; PARTS=steps,model,prefix,throughput,hosts,upload.
bench: $(DEPS) $(LLAMA)
	$(BIN)/python scripts/bench.py $(EVAL_DIR) --limit $(or $(LIMIT),20) \
		$(if $(MODEL),--model $(MODEL)) $(if $(PARTS),--parts $(PARTS))

# 100 files through the real processes while the API is killed -9 ten times and the model
# server stopped twice for 20 s; then the same without faults. Prints figures (reports/).
chaos: $(DEPS) $(LLAMA)
	$(BIN)/python scripts/chaos.py

# The model server's own tests use the small model; the end-to-end ones TEST_MODEL; the
# browser tests Debian's chromium, installed here when missing.
test: $(DEPS) $(LLAMA) $(CHROMIUM)
	$(BIN)/python -m app.modelfetch qwen2.5-coder:0.5b
	$(BIN)/python -m app.modelfetch $(TEST_MODEL)
	DOCSORT_TEST_MODEL=$(TEST_MODEL) $(BIN)/python -m pytest -q

lint: $(DEPS)
	$(BIN)/ruff check app tests scripts
	$(BIN)/ruff format --check app tests scripts

model-server: $(LLAMA)

$(DEPS): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

# No wheel exists for this CPU-only build; it compiles (3-4 minutes) with flags chosen from
# what the CPU reports. --no-cache-dir: pip would reuse a wheel built with other flags.
$(LLAMA): $(DEPS) scripts/llama-cmake-args
	CMAKE_ARGS="$$(scripts/llama-cmake-args)" $(BIN)/pip install -q --no-cache-dir \
		llama-cpp-python==$(LLAMA_VERSION)
	touch $@

$(CHROMIUM):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium

clean:
	rm -rf $(VENV) data
