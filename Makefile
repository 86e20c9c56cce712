# The README's two commands: `make demo` and `make test`. Both create .venv on first use.
# `make test-torch-floor` runs the same suite on the lowest torch that pyproject.toml allows.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_VERSION := 2.13.0
STAMP := $(VENV)/.installed
# The floor of pyproject.toml's `torch>=2.4`, at its last patch release; CI tests it after TORCH_VERSION.
TORCH_FLOOR := 2.4.1
FLOOR_VENV := .venv-floor
FLOOR_STAMP := $(FLOOR_VENV)/.installed-torch-$(TORCH_FLOOR)

.PHONY: demo test test-torch-floor lint venv bench-venv clean

venv: $(STAMP)

# torch goes in first, pinned: a bare `torch` requirement on an empty venv would pull the CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest

# PyPI has only the CUDA build of torch 2.4.1 (CPU builds live on another index). It runs on a
# machine without a GPU, but its import loads the nvidia-* libraries, so none of them can be left out.
# The project's requirements are resolved with torch pinned, so nothing upgrades it.
$(FLOOR_STAMP): pyproject.toml
	test -x $(FLOOR_VENV)/bin/python || $(PYTHON) -m venv $(FLOOR_VENV)
	$(FLOOR_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(FLOOR_VENV)/bin/python -m pip install --quiet "torch==$(TORCH_FLOOR)"
	$(FLOOR_VENV)/bin/python -m pip install --quiet -e ".[dev]" "torch==$(TORCH_FLOOR)"
	rm -f $(FLOOR_VENV)/.installed-torch-*
	touch $(FLOOR_STAMP)

test-torch-floor: $(FLOOR_STAMP)
	$(FLOOR_VENV)/bin/python -c "import torch; v = torch.__version__.split('+')[0]; \
	    assert v == '$(TORCH_FLOOR)', f'$(FLOOR_VENV) has torch {v}, not $(TORCH_FLOOR)'; print(f'torch {v}')"
	$(FLOOR_VENV)/bin/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

# A separate environment with Stable-Baselines3 for the peer benchmarks (never a runtime dependency).
bench-venv:
	test -x .venv-bench/bin/python || $(PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install --quiet --upgrade pip
	.venv-bench/bin/python -m pip install --quiet "torch==$(TORCH_VERSION)"
	.venv-bench/bin/python -m pip install --quiet -e ".[mujoco,robotics,atari,plot,box2d]" "stable-baselines3==2.9.2" \
	    "sb3-contrib==2.9.2"

clean:
	rm -rf $(VENV) $(FLOOR_VENV) runs build *.egg-info
