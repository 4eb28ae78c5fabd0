# The Django performance ladder. `make help` lists the targets.
#
# The first target that needs Python builds .venv from requirements.lock by itself, with
# uv when it is on PATH, with the standard venv module and pip otherwise; the tests,
# linters, docs and the workshop's checker add requirements-dev.lock.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
STEP   ?= 1
PORT   ?= 8000

export UV_PYTHON_DOWNLOADS := never

.DEFAULT_GOAL := help
.PHONY: help venv venv-dev bench bench-full bench-scale profile measure-wal report docs docs-build test test-faults seed serve measure explain exercise check rehearse services services-stop services-status steps lint format clean-db

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if v >= (3, 12) else "Python >= 3.12 is required, found %d.%d; run with PYTHON=/path/to/python3.13" % v[:2])'
	@echo "[venv] creating $(VENV) from requirements.lock"
	@rm -rf $(VENV)
	@if command -v uv >/dev/null 2>&1; then \
		uv venv -q --python "$$($(PYTHON) -c 'import sys; print(sys.executable)')" $(VENV) && \
		uv pip install -q --compile-bytecode --python $(PY) -r requirements.lock; \
	else \
		$(PYTHON) -m venv $(VENV) && \
		$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock; \
	fi
	@touch $(STAMP)

# Their tools go on top only when one of their targets runs: make bench needs under half
# of the packages and installs in a quarter of the time.
$(DEV_STAMP): $(STAMP) requirements-dev.lock
	@echo "[venv] adding the test, lint, docs and checker tools from requirements-dev.lock"
	@if command -v uv >/dev/null 2>&1; then \
		uv pip install -q --compile-bytecode --python $(PY) -r requirements-dev.lock; \
	else \
		$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.lock; \
	fi
	@touch $(DEV_STAMP)

venv: $(STAMP) ## create or refresh the tooling virtualenv (make venv-dev adds the test, lint, docs and checker tools)

venv-dev: $(DEV_STAMP) ## the tooling virtualenv with the test, lint, docs and checker tools

bench: $(STAMP) ## the quick run: every step, 100k customers, 2 s per scenario (STEPS=1,3 SCENARIOS=list,search DURATION= REPEATS= CUSTOMERS=)
	$(PY) -m bench bench --preset quick

bench-full: $(STAMP) ## the publication run the site shows: 1M customers, 8 s per scenario, up to 3 repeats; resumable
	$(PY) -m bench bench --preset publication

bench-scale: $(STAMP) ## one client's latency at 10k, 100k, 1M and 3M customers, every step (SIZES=10k,1M STEPS=); resumable
	$(PY) -m bench scale

profile: $(STAMP) ## sample the last two steps (or STEPS=7,8,9) and the ceiling with py-spy under one scenario (SCENARIO=search DURATION=)
	$(PY) -m bench profile

measure-wal: $(STAMP) ## the seeder and the write scenario under minimal and replica WAL, rounds taking turns: what a replica's WAL costs (CUSTOMERS= REPEATS= DURATION=)
	$(PY) -m bench wal

report: $(STAMP) ## print the table and draw the charts of the latest run (RESULTS=published or a file)
	$(PY) -m bench report

docs: $(DEV_STAMP) ## serve the documentation site on http://127.0.0.1:8001/ (rebuilds on change)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve --strict --dev-addr 127.0.0.1:8001

docs-build: $(DEV_STAMP) ## build the documentation site into site/ (strict: any broken link fails)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

test: $(DEV_STAMP) ## every step's own tests, the contract suite on every step, the harness's tests
	$(PY) -m bench test

test-faults: $(STAMP) ## PostgreSQL, Redis, an app instance, PgBouncer or the replica fail under load, every step (STEPS=2,7 FAULTS=outage,killed,redis-down,redis-restarted,redis-paused,instance-killed,rolling-restart,pgbouncer-restarted,replica-stopped,replica-lagging,overload OUTAGE=10)
	$(PY) -m bench faults

seed: $(STAMP) ## seed the base database: make seed CUSTOMERS=3000000 [SEED=42]
	$(PY) -m bench seed

serve: $(STAMP) ## run one step natively: make serve STEP=3 [PORT=8000] [WORKSHOP=1: your exercise copy]
	$(PY) -m bench serve $(STEP) --port $(PORT)

measure: $(STAMP) ## k6 against a step you serve: make measure STEP=3 SCENARIOS=list [WORKSHOP=1] [BASE_URL=]
	$(PY) -m bench measure $(STEP)

explain: $(STAMP) ## one request's queries and plan: make explain STEP=3 URL='/api/customers/?ordering=-points' [WORKSHOP=1]
	$(PY) -m bench explain $(STEP) "$(or $(URL),/api/customers/)"

exercise: $(STAMP) ## workshop: copy step n-1 to workshop/ to turn it into step n (make exercise STEP=4 [RESET=1])
	$(PY) -m bench exercise $(STEP)

rehearse: $(DEV_STAMP) ## workshop set-up and dress rehearsal: every venv and data set, each exercise checked (STEPS=2,3,4)
	$(PY) -m bench rehearse

check: $(DEV_STAMP) ## workshop: what your copy of step n still misses (make check STEP=4) [SOLUTION=1: the step's own code]
	$(PY) -m bench check $(STEP)

services: $(STAMP) ## start the embedded PostgreSQL and Redis (the other targets do it when needed)
	$(PY) -m bench services up

services-stop: $(STAMP) ## stop the embedded PostgreSQL and Redis, PgBouncer, HAProxy and the read replica
	$(PY) -m bench services stop

services-status: $(STAMP) ## show where PostgreSQL, Redis, PgBouncer, HAProxy and the read replica are
	$(PY) -m bench services status

steps: $(STAMP) ## list the steps
	$(PY) -m bench steps

clean-db: $(STAMP) ## drop the databases the harness created (crm_*)
	$(PY) -m bench drop --prefix crm
	$(PY) -m bench drop --prefix crm_test

lint: $(DEV_STAMP) ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(DEV_STAMP) ## apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .
