# Two commands on a fresh machine: `make demo` (the main job) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: install demo test lint docs bench bench-implicit bench-variance clean

install: $(VENV)/.installed

# torch is pinned here to the CPU build that lies on local disk; the package accepts torch>=2.3.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# The main job: a VAE on scikit-learn's bundled 8x8 digits (~25 s on 2 cores), then its
# evaluation table; a fresh run each time (runs/vae is replaced).
demo: install
	rm -rf runs/vae
	$(VENV)/bin/reparam vae train --out runs/vae
	$(VENV)/bin/reparam vae eval runs/vae

# pytest exits 5 when it collects no test: treated as success, everything else passes through.
test: install
	$(PY) -m pytest -q tests src --doctest-modules -p no:cacheprovider; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; rc=0; fi; exit $$rc

# ruff, the type checker over src/, and the layout rules (layers, no import cycle, sizes).
lint: install
	$(VENV)/bin/ruff check src tests benchmarks tools examples
	$(VENV)/bin/ruff format --check src tests benchmarks tools examples
	$(VENV)/bin/mypy
	$(PY) tools/check_layout.py

# The documentation site (mkdocs.yml): API pages from every package's __all__, built into
# site/ (open site/index.html); --strict turns every warning (a broken link, a docstring
# griffe cannot parse) into a failure.
docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

bench: install
	$(PY) benchmarks/bench_normal.py

bench-implicit: install
	$(PY) benchmarks/bench_implicit.py --rounds 20

bench-variance: install
	$(PY) benchmarks/bench_variance.py --repeats 200 --samples 16 64 256

clean:
	rm -rf $(VENV) runs build dist site src/*.egg-info
