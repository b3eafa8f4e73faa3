#!/usr/bin/env bash
# One command for a machine with a GPU: build bootvid against the installed torch (no build
# isolation, no network needed), run the CUDA tests and every benchmark suite on CUDA, and write a
# summary with the benchmark report (bench_gpu.json, bench_gpu.md, plots/).
#   bash scripts/gpu_check.sh [OUT_DIR]     (default: $OUT, else ./gpu_check_out)
# Env: BOOTVID_CUDA_ARCHS (default 90), GPU_CHECK_FULL=1 also runs the CPU tests there.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-gpu_check_out}}
mkdir -p "$out"
py=${PYTHON:-python3}
summary="$out/gpu_check_summary.md"
export PYTHONUNBUFFERED=1 BOOTVID_CUDA=1 BOOTVID_CUDA_ARCHS=${BOOTVID_CUDA_ARCHS:-90}

{
  echo "# bootvid GPU check"
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "- device: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)"
  echo "- torch: $($py -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda)')"
} > "$summary"

t0=$(date +%s)
if $py -m pip install --no-build-isolation --no-deps -v . > "$out/build.log" 2>&1; then
  echo "- build: ok in $(( $(date +%s) - t0 )) s (archs ${BOOTVID_CUDA_ARCHS})" >> "$summary"
else
  echo "- build: FAILED (see build.log)" >> "$summary"; tail -40 "$out/build.log"; cat "$summary"; exit 1
fi
# Run from outside the source tree so that the installed package (with _C) is imported.
cd "$out" && here=$(pwd) && cd - > /dev/null
src=$(pwd)

(cd "$here" && $py -m pytest "$src/tests" -m cuda -q -rs -p no:cacheprovider \
   --junitxml="$here/cuda_tests.xml" > "$here/cuda_tests.log" 2>&1)
echo "- CUDA tests: $(tail -1 "$here/cuda_tests.log")" >> "$summary"
if [ "${GPU_CHECK_FULL:-0}" = 1 ]; then
  (cd "$here" && $py -m pytest "$src/tests" -m "not cuda" -q -p no:cacheprovider > "$here/cpu_tests.log" 2>&1)
  echo "- other tests on this machine: $(tail -1 "$here/cpu_tests.log")" >> "$summary"
fi

# Every benchmark suite on CUDA (tokenizer-sized shapes, bf16), then its report with plots.
# Copy bench_gpu.json to docs/benchmarks/gpu-run.json and `make bench` adds the GPU section
# to BENCHMARKS.md (or: python -m benchmarks.report docs/benchmarks/cpu-run.json
# docs/benchmarks/gpu-run.json --plots docs/benchmarks > BENCHMARKS.md).
t0=$(date +%s)
(cd "$src" && BOOTVID_BENCH_DEVICE=cuda $py -m pytest benchmarks -q -rs -p no:cacheprovider \
   --benchmark-json="$here/bench_gpu.json" > "$here/bench_gpu.log" 2>&1)
echo "- GPU benchmarks (all suites, $(( $(date +%s) - t0 )) s): $(tail -1 "$here/bench_gpu.log")" >> "$summary"
if [ -f "$here/bench_gpu.json" ]; then
  (cd "$src" && $py -m benchmarks.report "$here/bench_gpu.json" --no-history --no-notes \
     --plots "$here/plots" > "$here/bench_gpu.md" 2> "$here/bench_gpu_report.log")
  echo >> "$summary"; cat "$here/bench_gpu.md" >> "$summary"
fi
echo >> "$summary"
grep -E "FAILED|ERROR" "$here/cuda_tests.log" | head -40 >> "$summary"
cat "$summary"
