# Everything runs from the project's own virtualenv, created on first use from pinned versions.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: venv test lint typecheck unit demo bench sandbox lock clean

# The provider with its development tools, and the sandbox (a distribution of its own, in sandbox/).
$(STAMP): pyproject.toml sandbox/pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]' -e ./sandbox
	touch $(STAMP)

venv: $(STAMP)

LINTED := airflow_provider_messaging sandbox tests example_dags benchmarks scripts

lint: venv
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: venv
	$(BIN)/mypy
	cd sandbox && ../$(BIN)/mypy

unit: venv
	$(BIN)/pytest tests/unit

test: lint typecheck
	$(BIN)/pytest

demo: venv
	$(BIN)/python scripts/demo.py

bench: venv
	$(BIN)/python benchmarks/run_all.py

sandbox: venv
	$(BIN)/messaging-sandbox

# Re-pin after changing dependencies: resolves in a scratch venv and rewrites constraints.txt.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --disable-pip-version-check '.[dev]' ./sandbox
	.lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^airflow-provider-messaging\|^airflow-messaging-sandbox' > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
