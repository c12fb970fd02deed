# The FNAC workbook. Two commands do everything on a fresh machine:
#   make demo   the notebook series at demo size on the embedded default data, into runs/demo/
#   make test   the whole test suite (unit tests, notebooks at CI size, nbval)
#   make study  the multi-seed study (notebook 06), into runs/study/; SEED_OFFSET=100 replicates it with
#               fresh seeds, into runs/study-offset100/
# Both create the project's own virtual environment and build the default data when missing.
#   make report an offline HTML report of the demo's executed notebooks (runs/demo/report/index.html)
#   make lab    JupyterLab on working copies of the notebooks (runs/lab/notebooks/), set to the demo's runs
#   make unit   the unit tests without the notebooks and the subprocess-heavy ones, about a minute

SHELL  := /bin/bash
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DATA   := data/default/bank.npz
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
STUDY_NOTEBOOK := notebooks/06_study.ipynb
DEMO_NOTEBOOKS := $(filter-out $(STUDY_NOTEBOOK),$(NOTEBOOKS))
DEMO_DIR  := runs/demo
SEED_OFFSET ?= 0
# STUDY_SETTINGS: the study's settings when not all of params/study.yaml's, e.g. objects-few (comma-separated).
STUDY_SETTINGS ?=
STUDY_DIR := runs/study$(if $(filter-out 0,$(SEED_OFFSET)),-offset$(SEED_OFFSET))
LAB_DIR   := runs/lab
# JupyterLab refuses to start as root unless told it may (containers, CI machines).
ROOT_FLAG := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)

.PHONY: demo test unit venv data bench bench-paper lab report notebook-filter clean-runs study

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

# Git stores notebooks through tests/notebook_outputs.py (see .gitattributes): outputs but the
# checked cells, execution counts and frontend metadata never reach a commit. Configured in this
# clone's .git/config; harmless outside a git checkout.
notebook-filter:
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  git config filter.fnac-notebook.clean "$(PY) tests/notebook_outputs.py clean"; \
	  git config filter.fnac-notebook.smudge cat; \
	fi

# --log-output prints what each notebook prints (a line per training epoch, progress lines) as it
# comes; the grep drops papermill's cell markers, the blank line it logs after every print, the local
# kernel's transport notice and the parameters of demo.yaml a notebook does not take (one file serves
# all five; tests/test_notebooks.py checks that every entry is some notebook's parameter), so the
# console reads as the notebooks' log.
QUIET_LOG := grep --line-buffered -v -e '^Executing Cell' -e '^Ending Cell' -e '^$$' -e 'Kernel is running over TCP' \
	-e '^Passed unknown parameter'

demo: $(STAMP) $(DATA) notebook-filter
	mkdir -p $(DEMO_DIR)/notebooks
	@set -o pipefail; for nb in $(DEMO_NOTEBOOKS); do \
	  echo "== $$nb -> $(DEMO_DIR)/notebooks/$$(basename $$nb)"; \
	  $(PY) -m papermill $$nb $(DEMO_DIR)/notebooks/$$(basename $$nb) -k fnac --cwd notebooks \
	    -f params/demo.yaml --log-output --no-progress-bar 2>&1 | $(QUIET_LOG) || exit 1; \
	done
	@echo "executed notebooks: $(DEMO_DIR)/notebooks   figures and metrics: $(DEMO_DIR)/figures   summary: $(DEMO_DIR)/summary.json"
	@echo "offline HTML report of them: make report"

# The multi-seed study (notebook 06 with params/study.yaml): every method x seed x setting, with intervals.
# SEED_OFFSET adds to every seed: another offset trains fresh seeds, a replication of the findings.
study: $(STAMP) $(DATA) notebook-filter
	mkdir -p $(STUDY_DIR)/notebooks
	@set -o pipefail; $(PY) -m papermill $(STUDY_NOTEBOOK) $(STUDY_DIR)/notebooks/$(notdir $(STUDY_NOTEBOOK)) -k fnac \
	  --cwd notebooks -f params/study.yaml -p seed_offset $(SEED_OFFSET) -p run_root ../$(STUDY_DIR) \
	  -p out_dir ../$(STUDY_DIR)/figures $(if $(STUDY_SETTINGS),-y "settings: [$(STUDY_SETTINGS)]") \
	  --log-output --no-progress-bar 2>&1 | $(QUIET_LOG)
	@echo "executed notebook: $(STUDY_DIR)/notebooks   figures: $(STUDY_DIR)/figures   summary: $(STUDY_DIR)/summary.json"

# The study's executed notebook joins the report when it exists; the index says so when it does not.
report: $(STAMP)
	$(PY) -m fnac_lib.workbook.report $(DEMO_DIR)/notebooks $(DEMO_DIR)/report --study $(STUDY_DIR)/notebooks/$(notdir $(STUDY_NOTEBOOK))

test: $(STAMP) $(DATA) notebook-filter
	$(PY) -m pytest

unit: $(STAMP) $(DATA)
	$(PY) -m pytest tests -m "not notebooks and not slow"

bench: $(STAMP) $(DATA)
	$(PY) benchmarks/bench_pipeline.py

# The published configuration (paper preset, 224 px, batch 16) against the published pipeline on 2 CPU cores.
bench-paper: $(STAMP) $(DATA)
	$(PY) benchmarks/bench_pipeline.py --scale paper

# Working copies: run, edit and save them freely; notebooks/ stays as committed. A copy is made once and
# never overwritten (delete it to get the current version). Notebooks 01-05 start from LAB_PARAMS (default the
# demo's: they read and write the runs of `make demo` in runs/demo, and train them when they are missing), the
# study from params/study.yaml (runs/study); `make lab LAB_PARAMS=none` makes plain copies at the CI-size defaults.
LAB_PARAMS ?= params/demo.yaml
lab: $(STAMP) $(DATA) notebook-filter
	@$(PY) -m fnac_lib.workbook.lab $(LAB_DIR)/notebooks $(LAB_PARAMS) $(DEMO_NOTEBOOKS)
	@$(PY) -m fnac_lib.workbook.lab $(LAB_DIR)/notebooks $(if $(filter none,$(LAB_PARAMS)),none,params/study.yaml) \
	  $(STUDY_NOTEBOOK)
	$(VENV)/bin/jupyter lab $(LAB_DIR)/notebooks $(ROOT_FLAG)

clean-runs:
	rm -rf runs/
