# The README's two commands: `make run` and `make test` (plus `make bench`, `make lock`).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Exact versions with hashes of everything make and CI install (setup.cfg keeps the ranges
# library users get). Refresh with `make lock` after changing a range in setup.cfg.
LOCK := requirements.lock
UV_VERSION := 0.13.9
LOCK_TOOLS := .venv-lock

.PHONY: run test bench install lock clean

$(STAMP): setup.cfg pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

# Sets up instance/ (first time: prints the administrator's password), then serves the web UI
# on http://$(HOST):$(PORT)/ (another port: make run PORT=5001).
HOST ?= 127.0.0.1
PORT ?= 5000
run: $(STAMP)
	$(BIN)/crmkit setup
	$(BIN)/crmkit serve --host $(HOST) --port $(PORT)

# pytest's exit code 5 means it ran no test: that fails too, with a sentence saying so.
test: $(STAMP)
	@status=0; $(BIN)/python -m pytest -n 2 $(PYTEST_ARGS) || status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest ran no test (exit code 5)" >&2; fi; \
	exit $$status

bench: $(STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# Resolves the newest releases that setup.cfg's ranges allow (with the extras the venv
# installs) for every platform and Python >= 3.11, and records them with their hashes.
lock:
	$(PYTHON) -m venv $(LOCK_TOOLS)
	$(LOCK_TOOLS)/bin/pip install --quiet 'uv==$(UV_VERSION)'
	$(LOCK_TOOLS)/bin/uv pip compile setup.cfg --extra test --extra postgres --extra redis --extra bench \
		--universal --python-version 3.11 --generate-hashes --upgrade \
		--custom-compile-command 'make lock' --quiet --output-file $(LOCK)

clean:
	rm -rf $(VENV) $(LOCK_TOOLS) build *.egg-info
