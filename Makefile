# The registry's two everyday commands: `make run` and `make test` (plus `make bench`).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# `make run` loads the demo into an empty registry (first run only); `make run DEMO=false` never does.
DEMO ?= true

.PHONY: run test lint format bench install messages clean

install: $(VENV)/.installed

# requirements-dev.txt is the runtime pins (requirements.txt, all the production image installs) plus tests and lint.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

run: install
	$(BIN)/python manage.py migrate --noinput
ifeq ($(DEMO),true)
	$(BIN)/python manage.py seed_demo --allow-production
	$(BIN)/python manage.py seed_demo_scans --allow-production
endif
	HOST=$(HOST) PORT=$(PORT) scripts/run.sh

test: install
	scripts/test.sh $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	scripts/bench.sh

messages: install
	$(BIN)/python manage.py makemessages -l es --ignore=.venv --ignore=var
	$(BIN)/python manage.py compilemessages --ignore=.venv

clean:
	rm -rf var
