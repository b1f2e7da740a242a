# Itinera: `make run` starts the whole stack locally, `make test` runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-fast bench synth package clean venv

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	@$(PY) -m tools.stack

test: $(STAMP)
	$(PY) -m pytest

# Unit and integration tests only (no local stack).
test-fast: $(STAMP)
	$(PY) -m pytest tests/unit tests/integration tests/infra

bench: $(STAMP)
	$(PY) -m tools.bench

# The stack of a stage as one SAM template + deployment.zip in build/infra (offline; STAGE=dev).
synth: $(STAMP)
	$(PY) -m infra.synth $(if $(STAGE),--stage $(STAGE))

# Same synthesis: `chalice package` builds the deployment package with the template.
package: synth

clean:
	rm -rf $(VENV) .itinera build .pytest_cache
