# Two commands for a fresh clone:  `make demo` (set up + main job)  and  `make test` (set up + tests).
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
OUT    ?= runs/compare

.PHONY: setup demo test parity clean

setup: $(VENV)/.installed

# torch is pinned first: 2.13.0 is the CPU build; an unpinned torch pulls a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[all,test]'
	touch $@

demo: setup
	$(VENV)/bin/wgan-suite compare --budget quick --out $(OUT)

test: setup
	$(PY) -m pytest -q

parity: setup
	$(VENV)/bin/wgan-suite parity

clean:
	rm -rf runs .pytest_cache
