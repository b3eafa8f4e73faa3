# Newcomer entry points: `make demo` (main job) and `make test` (tests). Each creates the
# virtual environment and builds bootvid's kernels as needed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEPS   := $(VENV)/.deps-installed
BUILT  := $(VENV)/.bootvid-built
# The CUDA kernels are built whenever nvcc matches torch's CUDA major version (override with
# BOOTVID_CUDA=0/1); architectures default to sm_90 (override: BOOTVID_CUDA_ARCHS="80;90").
export BOOTVID_CUDA ?= auto
export BOOTVID_CUDA_ARCHS ?= 90
SOURCES := $(shell find csrc python -type f \( -name '*.cpp' -o -name '*.cu' -o -name '*.h' -o -name '*.cuh' -o -name '*.py' \)) \
           $(shell find checkpoints -type f 2>/dev/null) CMakeLists.txt pyproject.toml

.PHONY: all venv install test demo bench bench-quick bench-smoke clean

all: test

$(DEPS):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch numpy safetensors tqdm pyyaml av pillow matplotlib pytest pytest-benchmark hypothesis scikit-image diffusers \
		scikit-build-core ninja "cmake>=3.26"
	touch $@

venv: $(DEPS)

# --no-build-isolation: build against the torch installed in the venv (the one it will run with).
$(BUILT): $(DEPS) $(SOURCES)
	$(BIN)/pip install -q --no-build-isolation --no-deps .
	touch $@

install: $(BUILT)

test: $(BUILT)
	$(BIN)/python -m pytest -q tests

demo: $(BUILT)
	$(BIN)/bootvid demo

# `make bench`: every benchmark suite on the CPU (full shapes), then BENCHMARKS.md and its plots
# (docs/benchmarks/*.png) regenerated from the run, whose JSON is kept as
# docs/benchmarks/cpu-run.json; a GPU run's JSON (scripts/gpu_check.sh's bench_gpu.json) copied
# to docs/benchmarks/gpu-run.json is included as the GPU section. `make bench-quick` (CI): small
# shapes, the report printed (plots under .benchmarks/, which git ignores).
BENCH_GPU_JSON = $(wildcard docs/benchmarks/gpu-run.json)

bench: $(BUILT)
	$(BIN)/python -m pytest benchmarks -q --benchmark-json=.benchmarks-run.json
	mkdir -p docs/benchmarks .benchmarks && cp .benchmarks-run.json docs/benchmarks/cpu-run.json
	$(BIN)/python -m benchmarks.report docs/benchmarks/cpu-run.json $(BENCH_GPU_JSON) \
		--plots docs/benchmarks > .benchmarks/report.md && mv .benchmarks/report.md BENCHMARKS.md

# `make bench-smoke` (CI): every suite once as a plain test (--benchmark-disable: nothing timed,
# ratios and targets skipped), on the quick shapes.
bench-smoke: $(BUILT)
	BOOTVID_BENCH_QUICK=1 $(BIN)/python -m pytest benchmarks -q --benchmark-disable

bench-quick: $(BUILT)
	BOOTVID_BENCH_QUICK=1 $(BIN)/python -m pytest benchmarks -q --benchmark-json=.benchmarks-quick.json
	$(BIN)/python -m benchmarks.report .benchmarks-quick.json --plots .benchmarks/quick-plots --no-history --no-notes

clean:
	rm -rf build $(BUILT)
