# The FNAC workbook. Two commands do everything on a fresh machine:
#   make demo   the notebook series at demo size on the embedded default data, into runs/demo/
#   make test   the whole test suite (unit tests, notebooks at CI size, nbval)
#   make unit   the unit tests without the notebooks and the subprocess-heavy ones, about a minute
# Both create the project's own virtual environment and build the default data when missing.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DATA   := data/default/bank.npz
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
DEMO_DIR  := runs/demo

.PHONY: demo test unit venv data bench lab clean-runs

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[notebooks,test]"
	# The notebooks' kernel lives inside the venv, so JupyterLab and papermill from this venv find it.
	$(PY) -m ipykernel install --sys-prefix --name fnac --display-name "FNAC workbook (.venv)"
	touch $(STAMP)

data: $(DATA)

$(DATA): | $(STAMP)
	$(PY) -m fnac_lib build-data

demo: $(STAMP) $(DATA)
	mkdir -p $(DEMO_DIR)/notebooks
	for nb in $(NOTEBOOKS); do \
	  $(PY) -m papermill $$nb $(DEMO_DIR)/notebooks/$$(basename $$nb) -k fnac --cwd notebooks \
	    -f params/demo.yaml --progress-bar || exit 1; \
	done
	@echo "executed notebooks: $(DEMO_DIR)/notebooks   figures and metrics: $(DEMO_DIR)/figures"

test: $(STAMP) $(DATA)
	$(PY) -m pytest

unit: $(STAMP) $(DATA)
	$(PY) -m pytest tests -m "not notebooks and not slow"

bench: $(STAMP) $(DATA)
	$(PY) benchmarks/bench_pipeline.py

lab: $(STAMP) $(DATA)
	$(VENV)/bin/jupyter lab notebooks/

clean-runs:
	rm -rf runs/
