# Itinera: `make run` starts the whole stack locally, `make test` runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-fast bench chaos synth package clean venv fuzz deploy outputs admin destroy chromium screenshots

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

# The web app needs no build; npm brings only Swagger UI for /docs, exactly as locked
# (--ignore-scripts: a dependency's install script never runs here).
WEB_STAMP := web/node_modules/.installed
$(WEB_STAMP): web/package.json web/package-lock.json
	cd web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $(WEB_STAMP)

# The browser tests drive Debian's chromium (Playwright's own browser download cannot run here).
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@test -x $(CHROMIUM) || { echo "Installing Debian's chromium for the browser tests ..."; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $(SUDO) apt-get install -y -qq chromium >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }; }

venv: $(STAMP)

run: $(STAMP) $(WEB_STAMP)
	@$(PY) -m tools.stack

test: $(STAMP) $(WEB_STAMP) chromium
	$(PY) -m pytest

# The README's pictures: the browser tests' screenshots (build/screenshots) copied to docs/.
screenshots:
	mkdir -p docs/screenshots && cp build/screenshots/*.png docs/screenshots/

# Unit and integration tests only (no local stack).
test-fast: $(STAMP) $(WEB_STAMP)
	$(PY) -m pytest tests/unit tests/integration tests/infra

# Schemathesis against a fresh local stack as every role, all phases, longer than in `make test`
# (MAX_EXAMPLES, SEED and ROLES override); exits non-zero on any failure.
fuzz: $(STAMP)
	$(PY) -m tools.fuzz $(if $(MAX_EXAMPLES),--max-examples $(MAX_EXAMPLES)) $(if $(SEED),--seed $(SEED)) $(if $(ROLES),--roles $(ROLES))

bench: $(STAMP)
	$(PY) -m tools.bench

# The long fault-injection run (a short one is part of `make test`): SEED=n OPS=n to replay one.
chaos: $(STAMP)
	$(PY) -m tools.chaos --operations $(or $(OPS),10000) $(if $(SEED),--seed $(SEED))

# The stack of a stage as one SAM template + deployment.zip in build/infra (offline; STAGE=dev).
synth: $(STAMP)
	$(PY) -m infra.synth $(if $(STAGE),--stage $(STAGE))

# Same synthesis: `chalice package` builds the deployment package with the template.
package: synth

# AWS (README "Deploy to AWS"): your credentials and AWS_REGION; STAGE=dev by default.
deploy: $(STAMP) $(WEB_STAMP)
	$(PY) -m tools.deploy deploy --stage $(or $(STAGE),dev) $(foreach p,$(PARAMETERS),--parameter $(p))

outputs: $(STAMP)
	$(PY) -m tools.deploy outputs --stage $(or $(STAGE),dev)

admin: $(STAMP)
	$(PY) -m tools.deploy admin --stage $(or $(STAGE),dev) --email "$(EMAIL)" --group $(or $(GROUP),admins)

destroy: $(STAMP)
	$(PY) -m tools.deploy destroy --stage $(or $(STAGE),dev)

clean:
	rm -rf $(VENV) .itinera build .pytest_cache web/node_modules
