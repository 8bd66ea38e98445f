# seq2seq-course: two commands do all the set-up on a fresh clone where only python3 exists.
#   make lab    create .venv if missing, install, open JupyterLab on notebooks/
#   make test   create or update .venv, lint (make lint), run the whole test suite
#   make doctor what is wrong with this machine (versions, kernel, bubblewrap, chromium), with fixes
#   make constraints  re-pin every package in constraints.txt after changing pyproject.toml
# Course authoring (docs/AUTHORING.md):
#   make notebooks  build solutions/*/*.ipynb from notebook_sources/*.py (executed), then release
#   make release    regenerate notebooks/ (the student version) from solutions/ with nbgrader
# Grading (README.md, "For instructors"):
#   make students       add or update the students listed in students.csv
#   make collect        unpack an LMS download (downloaded/NN_name/archive/) into submitted/
#   make grade          autograde every submission not graded yet (JOBS=N: N at a time)
#   make grade-certs    create the course CA and the Dask cluster's keys (DASK=tls://...)
#   make bench-class    time a synthetic class: JOBS=1, JOBS=2, a 2-worker Dask cluster
#   make feedback       write feedback/<student>/NN_name/NN_name.html
#   make export         write every student's scores to grades.csv, and Canvas's and
#                       Moodle's gradebook import files (canvas-grades.csv, moodle-grades.csv)
#   make report         item analysis of the graded class: item-report.html
#   make due-dates      copy due_dates.toml's due dates into gradebook.db (release and grade do)
#   make student-dist   build dist/seq2seq-course-student.zip, what students download
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: lab test unit lint venv bench bench-class clean-venv release notebooks
.PHONY: students collect grade grade-certs feedback export report due-dates student-dist
.PHONY: chromium bubblewrap doctor constraints site

# Reinstall whenever the dependency list or its pinned versions change. constraints.txt pins
# every package (`make constraints` writes it from pyproject.toml), so every machine and CI
# get the same versions.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

venv: $(STAMP)

# Re-resolve pyproject.toml's dependencies (the newest versions it allows, as on a fresh
# machine) and pin them all in constraints.txt (.ci/update-constraints, about a minute). Run it
# after changing a dependency and read the diff; tests/test_constraints.py checks the two agree.
constraints:
	@bash .ci/update-constraints

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks

# Is this machine ready? Python and the pinned versions, course_utils, the kernel JupyterLab
# starts, bubblewrap and chromium: one line each, every problem with the command that fixes it,
# exit 1 on a problem (course_utils/doctor.py). It installs nothing, so it also diagnoses a
# .venv whose install failed.
doctor:
	@test -x $(BIN)/python || { echo "doctor: no $(VENV)/ here: run \`make venv\` first"; exit 1; }
	@$(BIN)/python course_utils/doctor.py --instructor

# Debian's Chromium for tests/test_browser.py: installed with apt-get when missing and run as
# root (CI); otherwise a note, and those tests skip. Instant when already installed.
chromium:
	@bash .ci/install-chromium

# Debian's bubblewrap, which sandboxes students' kernels in autograde (docs/GRADING.md):
# installed with apt-get when missing and run as root (CI, a grading server); otherwise a note.
bubblewrap:
	@bash .ci/install-bubblewrap

# ruff (pinned; rules in pyproject.toml) over course_utils, grading, tests, bench and the
# notebook sources: seconds, so `make test` lints first and stops on a finding.
lint: $(STAMP)
	$(BIN)/ruff check

# One pytest worker per core (pytest-xdist), each test file kept whole on one worker
# (`--dist loadfile`): nbval runs a notebook's cells in order in one kernel, and the grading
# tests share a graded course per module. TEST_JOBS=0 runs everything in this process.
TEST_JOBS ?= auto
test: $(STAMP) lint chromium bubblewrap
	$(BIN)/python -m pytest -n $(TEST_JOBS) --dist loadfile

# Unit tests only (no notebooks, no grading round trip): seconds.
unit: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not browser"

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# A synthetic class of one assignment (bench/grade_class.py: 8 submissions of
# 03_teacher_forcing by default), graded three ways side by side: submissions per minute and
# parallel efficiency (README.md, "Grading a class"). About 4 minutes on 2 cores, so not part
# of `make bench`.
# ARGS: --students N, --assignment NAME, --ways N, --json FILE.
bench-class: $(STAMP) bubblewrap
	OMP_NUM_THREADS=1 $(BIN)/python bench/grade_class.py $(ARGS)

clean-venv:
	rm -rf $(VENV)

# nbgrader's course directory: solutions/, notebooks/, gradebook.db, downloaded/, submitted/,
# autograded/, feedback/, grades.csv. The repo root (all gitignored but the first two); the
# grading tests point it at a temporary copy. nbgrader itself runs from the repo root, where
# it finds nbgrader_config.py.
COURSE_DIR ?= .
COURSE := $(abspath $(COURSE_DIR))
NBGRADER := $(BIN)/nbgrader
# Options for every nbgrader call (they go after the subcommand): the course, quiet logs.
NBG := --CourseDirectory.root="$(COURSE)" --log-level=WARN
# Which assignments collect, grade and feedback act on: a folder name or a glob.
ASSIGNMENT ?= *
# Extra nbgrader options, e.g. ARGS=--force to grade again what was already graded.
ARGS ?=
# `make grade JOBS=N`: grade N submissions at a time with grading/parallel.py (unset: 1).
JOBS ?=
# `make grade DASK=tls://host:8786`: grading/parallel.py on that dask.distributed cluster,
# with the keys in CERTS (make grade-certs); tcp:// only with ARGS=--insecure.
DASK ?=
CERTS ?= $(COURSE)/dask-certs
# The class list for `make students`: CSV with columns id,first_name,last_name,email.
STUDENTS ?= students.csv
DIST_DIR ?= dist

# nbgrader runs `alembic` by name when it opens gradebook.db, so the venv's bin must be on PATH.
release notebooks students collect grade feedback export report due-dates: export PATH := $(abspath $(BIN)):$(PATH)
# One intra-op thread, as nbval's kernels get (conftest.py): the stored outputs and the
# re-run then do the same float arithmetic, and tiny models run fastest on one thread anyway.
notebooks grade: export OMP_NUM_THREADS := 1

# Student release: `nbgrader generate_assignment` on every assignment folder, in one run (a run
# per folder costs 3 s more each). --force replaces notebooks/NN_name entirely, so files deleted
# from solutions/NN_name disappear from the release too; release folders whose solutions folder
# is gone are removed. The output depends only on solutions/ (no timestamps, ids or paths), so
# notebooks/ can be checked against a fresh run (tests/test_release.py). Also records each
# assignment, with its tests and points, in gradebook.db: autograde grades against that copy.
release: $(STAMP)
	@set -e; names=; for dir in $(COURSE)/solutions/*/; do \
	  [ -d "$$dir" ] && names="$$names $$(basename "$$dir")"; \
	done; \
	[ -n "$$names" ] || { echo "release: nothing in $(COURSE)/solutions/"; exit 1; }; \
	echo "release:$$names"; \
	$(NBGRADER) generate_assignment "*" --force $(NBG); \
	$(BIN)/python -m grading.due_dates --course "$(COURSE)"; \
	for dir in $(COURSE)/notebooks/*/; do \
	  [ -d "$$dir" ] || continue; \
	  name=$$(basename "$$dir"); \
	  [ -d "$(COURSE)/solutions/$$name" ] || { echo "release: removing $$dir (no solutions/$$name)"; rm -rf "$$dir"; }; \
	done

# Build every solution notebook from its committed source, notebook_sources/NN_name.py
# (jupytext py:percent), executing it in a fresh kernel so the outputs nbval compares are fresh,
# then the student release. NAMES=03_teacher_forcing builds only that one. Warm matplotlib's
# font cache first: on a fresh machine its one-off "building the font cache" message would land
# in a cell's stderr. tests/test_release.py fails when a committed notebook is not what its
# source builds (`notebook_sources/build.py --check`).
NAMES ?=
notebooks: $(STAMP)
	@$(BIN)/python -c "import matplotlib.pyplot"
	$(BIN)/python notebook_sources/build.py $(NAMES)
	@$(MAKE) --no-print-directory release

# ---------------------------------------------------------------------------------------------
# Grading, step by step in README.md ("For instructors"). Every target works on COURSE_DIR.

# Add or update students in gradebook.db. Autograde adds unknown students by itself, but only
# students in the gradebook get a row (of zeros) in grades.csv when they submit nothing.
students: $(STAMP)
	$(NBGRADER) db student import "$(abspath $(STUDENTS))" $(NBG)
	@echo "students: imported $(STUDENTS)"

# Unpack each downloaded/NN_name/archive/ (zips or loose notebooks, as the LMS gives them)
# into submitted/<student>/NN_name/NN_name.ipynb. File names are matched by
# FileNameCollectorPlugin.named_regexp in nbgrader_config.py. --force: a new download replaces
# what was collected before for the same students.
collect: $(STAMP)
	@set -e; found=; for dir in $(COURSE)/downloaded/$(ASSIGNMENT)/archive/; do \
	  [ -d "$$dir" ] || continue; \
	  found=1; name=$$(basename "$$(dirname "$$dir")"); \
	  echo "collect: $$name"; \
	  $(NBGRADER) zip_collect "$$name" --force $(NBG) $(ARGS); \
	done; \
	[ -n "$$found" ] || { echo "collect: no $(COURSE)/downloaded/$(ASSIGNMENT)/archive/"; exit 1; }

# Run every submission with its tests (hidden ones included) and record the scores in
# gradebook.db; the graded notebooks go to autograded/ (they contain the hidden tests: do not
# hand them out). Submissions already graded are skipped unless they changed (ARGS=--force).
# Every path is grading/parallel.py (console script seq2seq-grade): each submission in a
# process of its own with memory, CPU and time limits; a submission that breaks fails alone,
# and why goes in grading-report.json; a progress line after each. First the solution of each
# assignment to grade must earn full marks in the same environment (the canary; "canary:
# cached" when nothing it depends on changed). JOBS=N: N at a time (default 1).
# DASK=tls://host:8786: on the workers of a Dask cluster (grading/dask_executor.py), with the
# client key in CERTS. ARGS: --force, --timeout S, --memory MB, --max-output MB, --student ID,
# --no-canary (unsafe), --insecure (unsafe: a tcp:// cluster), and --Class.trait=value.
grade: $(STAMP) bubblewrap due-dates
	$(BIN)/seq2seq-grade --course "$(COURSE)" --assignment "$(ASSIGNMENT)" \
	  $(if $(strip $(DASK)),--dask-scheduler "$(DASK)" --certs "$(abspath $(CERTS))",--jobs $(or $(strip $(JOBS)),1)) $(ARGS)

# Due dates (grading/due_dates.py): due_dates.toml's [due] into gradebook.db, each assignment's
# due date, none for one it does not list; autograde charges late submissions as its [late]
# says (nbgrader's AssignLatePenalties with grading.due_dates.LatePenalty, nbgrader_config.py).
due-dates: $(STAMP)
	@$(BIN)/python -m grading.due_dates --course "$(COURSE)"

# A new course CA and the scheduler's, workers' and client's keys in CERTS (grading/certs.py;
# docs/GRADING.md, "The cluster"). ARGS: --days N, --force (replace them: a new CA).
grade-certs: $(STAMP)
	$(BIN)/python -m grading.certs --out "$(abspath $(CERTS))" $(ARGS)

# One HTML page per graded notebook, without hidden tests: feedback/<student>/NN_name/.
feedback: $(STAMP)
	$(NBGRADER) generate_feedback "$(ASSIGNMENT)" $(NBG) $(ARGS)

# One row per student and assignment (a student with no submission scores 0), and the same
# grades as Canvas's and Moodle's gradebook import files, one row per student (grading/export.py,
# grading/lms_export.py; no grade yet, or no submission: an empty cell).
export: $(STAMP)
	$(NBGRADER) export --to "$(COURSE)/grades.csv" $(NBG) $(ARGS)
	@echo "export: wrote $(COURSE)/grades.csv, canvas-grades.csv and moodle-grades.csv"

# Item analysis after grading (grading/item_report.py): per assignment the score distribution,
# and per test cell its fail rate, mean points, commonest failure messages, and a flag when the
# class's top half fails it more often than the bottom half. One HTML file, figures embedded,
# nothing fetched: $(COURSE)/item-report.html. ASSIGNMENT limits it (a name or a glob).
report: $(STAMP)
	$(BIN)/python -m grading.item_report --course "$(COURSE)" --assignment "$(ASSIGNMENT)"

# What students download: notebooks/, course_utils (with the shipped checkpoints), the
# environment files, nbgrader_config.py (so validate runs as the grader does), and
# student_dist/Makefile and README.md. Nothing from solutions/ (tests/test_release.py checks).
student-dist: $(STAMP)
	$(BIN)/python student_dist/build.py --out "$(DIST_DIR)/seq2seq-course-student.zip"

# The course as a static website (site/build.py: Sphinx, myst-nb and furo, pinned): a start
# page and a page per notebook of the student release, with the stored outputs of its
# narrative cells (never executed: seconds), each student notebook to download, and MathJax
# served from the site. No solution, no hidden test, nothing loaded from another host
# (tests/test_site.py, tests/test_site_browser.py). Open $(SITE_DIR)/index.html.
SITE_DIR ?= build/site
site: $(STAMP)
	$(BIN)/python site/build.py --out "$(SITE_DIR)"
