# The FNAC workbook. Two commands do everything on a fresh machine:
#   make demo   the notebook series at demo size on the embedded default data, into runs/demo/
#   make test   the whole test suite (unit tests, notebooks at CI size, nbval)
#   make study  the multi-seed study (notebook 06), into runs/study/
#   make unit   the unit tests alone (no notebooks), about a minute
# Both create the project's own virtual environment and build the default data when missing.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DATA   := data/default/bank.npz
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
STUDY_NOTEBOOK := notebooks/06_study.ipynb
DEMO_NOTEBOOKS := $(filter-out $(STUDY_NOTEBOOK),$(NOTEBOOKS))
DEMO_DIR  := runs/demo
STUDY_DIR := runs/study

.PHONY: demo study test unit venv data bench lab clean-runs

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
	for nb in $(DEMO_NOTEBOOKS); do \
	  $(PY) -m papermill $$nb $(DEMO_DIR)/notebooks/$$(basename $$nb) -k fnac --cwd notebooks \
	    -f params/demo.yaml --progress-bar || exit 1; \
	done
	$(PY) -m fnac_lib.workbook.summary $(DEMO_DIR)/figures/04_benchmark_evaluation.json $(DEMO_DIR)/summary.json
	@echo "executed notebooks: $(DEMO_DIR)/notebooks   figures and metrics: $(DEMO_DIR)/figures   summary: $(DEMO_DIR)/summary.json"

# The multi-seed study (notebook 06 with params/study.yaml): every method x seed x setting, with intervals.
study: $(STAMP) $(DATA)
	mkdir -p $(STUDY_DIR)/notebooks
	$(PY) -m papermill $(STUDY_NOTEBOOK) $(STUDY_DIR)/notebooks/$(notdir $(STUDY_NOTEBOOK)) -k fnac --cwd notebooks \
	  -f params/study.yaml --progress-bar
	@echo "executed notebook: $(STUDY_DIR)/notebooks   figures: $(STUDY_DIR)/figures   summary: $(STUDY_DIR)/summary.json"

test: $(STAMP) $(DATA)
	$(PY) -m pytest

unit: $(STAMP) $(DATA)
	$(PY) -m pytest tests -m "not notebooks"

bench: $(STAMP) $(DATA)
	$(PY) benchmarks/bench_pipeline.py

lab: $(STAMP) $(DATA)
	$(VENV)/bin/jupyter lab notebooks/

clean-runs:
	rm -rf runs/
