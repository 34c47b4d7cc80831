# Two commands for a fresh clone:  `make demo` (set up + main job)  and  `make test` (set up + tests).
#
# Setup installs the versions in constraints.txt (the ones the docs' figures were measured with) and a CPU
# torch on purpose (shared/suite/install.py decides; it prints which build and why):
#   Linux x86-64 / aarch64: PyPI's torch is a CUDA build (several GB); the CPU build comes from PyTorch's
#                           CPU index when it answers, else from whatever the configured index offers
#                           (a local CPU wheel where one is found first, as on the project's machines).
#   macOS arm64, Windows:   PyPI's wheel, which is a CPU build; TensorFlow is `tensorflow` on macOS and
#                           Linux aarch64, `tensorflow-cpu` on Linux x86-64 and Windows (pyproject markers).
# Variables: TORCH_INDEX=auto|pypi|URL (where the CPU torch comes from), TORCH_SPEC=torch==2.13.0,
#            GPU=1 (CUDA builds: extras `gpu` instead of `all`; torch from the configured index).
VENV        ?= .venv
PYTHON      ?= python3
PY          := $(VENV)/bin/python
OUT         ?= runs/compare
TORCH_INDEX ?= auto
TORCH_SPEC  ?= torch==2.13.0
GPU         ?=
EXTRAS      := $(if $(filter-out 0,$(GPU)),gpu,all),ray,test
# -qq: pip's errors only. Its warnings here are machine noise (an unused local index per package), and the
# editable install's setuptools banner is about folders shadowing the package, which is how this repo works.
PIP         := $(PY) -m pip install -qq -c constraints.txt

.PHONY: setup demo test parity clean clean-venv

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@echo "setup: creating $(VENV) and installing .[$(EXTRAS)] with constraints.txt (first time: 2-3 minutes from a local package cache, longer from the network)"
	@$(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -qq --upgrade pip
	@TORCH_INDEX='$(TORCH_INDEX)' TORCH_SPEC='$(TORCH_SPEC)' GPU='$(GPU)' $(PY) -m shared.suite.install torch
	@$(PIP) -e '.[$(EXTRAS)]'
	@$(PY) -m shared.suite.install summary
	@touch $@

demo: setup
	$(VENV)/bin/wgan-suite compare --budget quick --out $(OUT)

# -n auto: one pytest worker per core, at most four (the tests pin each framework to one thread), which
# cut the suite from 29 to 17 minutes on two AVX2 cores; --dist loadfile keeps a file's tests on one worker,
# so a module's fixture (a compare, a parity run) is built once. Plain `pytest` runs serially (-s, --pdb).
test: setup
	$(PY) -m pytest -q -n auto --maxprocesses 4 --dist loadfile

parity: setup
	$(VENV)/bin/wgan-suite parity

clean:
	rm -rf runs .pytest_cache

clean-venv:
	rm -rf $(VENV)
