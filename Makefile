# Wuxing toolkit. `make help` lists the targets.
SHELL := /bin/bash
PY      := .venv/bin/python
VENV_OK := .venv/.installed
# g++/make: Verilator compiles its models; libusb/libftdi: openFPGALoader
DEB_PKGS := iverilog g++ make libusb-1.0-0 libftdi1-2
BOARD   ?= icebreaker
TOPOLOGY ?= tiny
VERILATOR_BIN := $(firstword $(wildcard $(CURDIR)/.venv/lib/python3*/site-packages/verilator/bin))
export PATH := $(CURDIR)/.venv/bin:$(VERILATOR_BIN):$(PATH)

.PHONY: help setup demo test test-slow bench bench-boards experiments experiments-quick verilog sim bitstream program clean

help:  ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: $(VENV_OK)  ## install Debian packages (if missing), .venv, the package and the toolchain

$(VENV_OK): pyproject.toml
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	python3 -c "import ensurepip, venv" 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "error: missing Debian packages:$$missing"; echo "run:   sudo apt-get install -y$$missing"; exit 1; fi; fi
	@test -x $(PY) || python3 -m venv .venv
	@$(PY) -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	@$(PY) -m pip install -q -e '.[test]' 2>&1 | grep -v "^WARNING: Location" || true
	@$(PY) -c "import wuxing.golden, amaranth, cocotb, numpy" || { echo "error: installing the package failed"; exit 1; }
	@touch $(VENV_OK)
	@echo "setup: ready (.venv)"

demo: setup  ## the main job (no board, no download): train, Verilog, co-simulation, host flow (sim), training on the simulated chip, ULX3S bitstream, summary
	.venv/bin/wuxing demo

# pytest-xdist: one worker per core; a module with an expensive module fixture is one group
# (xdist_group) and computes it through tests/conftest.py's run_once (under pytest 9.2 the
# groups are not kept on one worker), so it runs once. Builds shared between workers take a
# folder lock.
XDIST := -n auto --dist loadgroup

test: setup  ## the default test run, in parallel on all cores (fast; CI runs this)
	$(PY) -m pytest -q $(XDIST) --durations=15

test-slow: setup  ## the slow tests too (training to accuracy, long co-simulations, bitstreams)
	$(PY) -m pytest -q $(XDIST) -m "slow or not slow"

bench: setup  ## speed and memory figures, printed: golden model (NumPy loop vs Numba kernel, Brian2 peer), co-simulation, synthesis, the tiny network built on the four boards (~25 min)
	@$(PY) -c "import brian2" 2>/dev/null || { echo "bench: installing the bench extra (Brian2, the golden model's peer)"; \
	  $(PY) -m pip install -q -e '.[bench]' 2>&1 | grep -v "^WARNING: Location" || true; }
	$(PY) -m wuxing.golden.bench
	$(PY) -m wuxing.sim.bench
	$(PY) -m wuxing.boards.bench --rerun

bench-boards: setup  ## the long board bench (MODEL1, fan-in-4 MODEL1, the UP5K's largest network; hours): resumable, results in build/bench/boards
	$(PY) -m wuxing.boards.bench --set full

# the experiments run as `wuxing sweep` jobs on Dask: SCHEDULER=tcp://HOST:8786 for a cluster
SWEEP_ARGS := $(if $(SCHEDULER),--scheduler $(SCHEDULER))

experiments-quick: setup  ## the paper's six experiments, --quick variants, as a sweep (results in experiments/results)
	PY=$(PY) experiments/run_all.sh quick $(SWEEP_ARGS)

experiments: setup  ## every experiment run REPORT.md quotes, as a resumable sweep, then the tables (SCHEDULER=ADDRESS: a Dask cluster)
	PY=$(PY) experiments/run_all.sh $(SWEEP_ARGS)

clean:  ## remove build outputs (keeps .venv)
	rm -rf build sim_build* runs .pytest_cache

verilog: setup  ## Verilog of the $(TOPOLOGY) network, one NeuronCore and one Synapse (build/verilog)
	.venv/bin/wuxing generate --what network --topology $(TOPOLOGY) --out build/verilog/network
	.venv/bin/wuxing generate --what core --out build/verilog/core
	.venv/bin/wuxing generate --what synapse --out build/verilog/synapse

sim: setup  ## cocotb benches (core, synapse, small network) on Icarus and Verilator vs the golden model
	.venv/bin/wuxing sim

SIMULATOR ?= verilator
demo-hw: setup  ## Verilog of a trained network (CHECKPOINT=path, else $(TOPOLOGY)) and RTL-vs-golden compare
	.venv/bin/wuxing generate --what network $(if $(CHECKPOINT),--checkpoint $(CHECKPOINT),--topology $(TOPOLOGY)) --out build/verilog/demo
	.venv/bin/wuxing compare $(if $(CHECKPOINT),--checkpoint $(CHECKPOINT),--topology $(TOPOLOGY)) --simulator $(SIMULATOR) --json build/compare/demo.json

bitstream: setup  ## build the board bitstream, print resources, clock, Fmax and speed (BOARD=icebreaker|icesugar|ulx3s|orangecrab; default network: the tiny preset; RECIPE=demo: the network a recipe trains on the chip; LAYERS=16,16,10 for another; CLOCK=MHz, LANES=P|auto)
	.venv/bin/wuxing build --board $(BOARD) $(if $(RECIPE),--recipe $(RECIPE)) $(if $(LAYERS),--layers $(LAYERS)) $(if $(CLOCK),--clock $(CLOCK)) $(if $(LANES),--lanes $(LANES)) --json build/bitstream/$(BOARD)-report.json

program: setup  ## flash build/bitstream/BOARD onto the board (DRY_RUN=1 prints the command only)
	.venv/bin/wuxing program --board $(BOARD) $(if $(DRY_RUN),--dry-run)
