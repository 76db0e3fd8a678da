# Two commands need only Python 3.11, make and git: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
# VENV=/some/dir builds and uses the development environment there instead.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# What the deployment test installs offline into a fresh virtual environment (tests/deployment).
WHEELHOUSE ?= .wheelhouse
AIRFLOW_CONSTRAINTS := deploy/airflow/constraints-3.3.2-python3.11.txt

.PHONY: demo test lint wheel wheelhouse clean

# The development environment: the package (editable) with its dev extra, every version pinned.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip==26.3"
	$(BIN)/pip install --quiet -e ".[dev]" "apache-airflow==3.3.2" -c constraints.txt
	touch $(STAMP)

# Airflow 3.3.2 with the Celery and Postgres extras and dr-drill's own requirements, downloaded
# once with Airflow's constraints, so that the deployment test installs without the network.
$(WHEELHOUSE)/.complete: $(AIRFLOW_CONSTRAINTS) pyproject.toml | $(STAMP)
	$(BIN)/pip download --quiet -d $(WHEELHOUSE) -c $(AIRFLOW_CONSTRAINTS) "apache-airflow[celery,postgres]==3.3.2" .
	touch $@

wheelhouse: $(WHEELHOUSE)/.complete

demo: $(STAMP)
	PYTHONPATH=plugins:. $(BIN)/python -m demo.run_demo

test: $(STAMP) $(WHEELHOUSE)/.complete
	$(BIN)/ruff check .
	DR_DRILL_WHEELHOUSE=$(abspath $(WHEELHOUSE)) $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

# The wheel an Airflow deployment installs: dist/dr_drill-<version>-py3-none-any.whl
wheel: $(STAMP)
	$(BIN)/pip wheel --quiet --no-deps --no-build-isolation -w dist .

clean:
	rm -rf $(VENV) $(WHEELHOUSE) dist .airflow .pytest_cache
