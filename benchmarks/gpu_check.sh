#!/usr/bin/env bash
# The one-call GPU check, for an offline GPU box whose image has scikit-build-core, pybind11, cmake, ninja,
# cupy, h5py, pillow and pytest (no internet, no scipy-openblas32: the backend falls back to numpy's
# bundled OpenBLAS). Stages, in order; the first that fails ends the run with one line
#   gpu_check: FAILED at <stage>: <why>
# and a non-zero exit, after the list of the stages that passed. A machine without a GPU, or a build
# without CUDA, never looks like a pass.
#   device     nvidia-smi sees a GPU; its compute capability gives the architecture to build for
#   install    pip install --no-build-isolation --no-deps with LRCN_CUDA=ON for that architecture
#   cuda       from outside the source tree: the installed lrcn_native imports lrcn_native._cuda, which
#              sees a device, and set_mode_gpu works
#   tests      pytest -rs on the installed package (quick: the GPU tests; --full: the whole suite);
#              fails when a GPU test skipped for want of a device
#   sanitizer  compute-sanitizer memcheck and racecheck over the small GEMM, conv and LSTM GPU tests;
#              a sandbox that refuses the tool is reported, not failed
#   bench      the GPU benchmarks against the installed package, each figure as JSON under $OUT
#
#   benchmarks/gpu_check.sh [--full] [--no-install]
# --no-install checks the lrcn_native that python3 already imports (for a package installed earlier).
# The default run (quick) stays under 8 minutes: each stage after the install gets at most what is left of
# a 470-second budget (--full: 25 minutes, the whole suite and every benchmark at full size). Six files go
# to $OUT (default benchmarks/results/gpu; the device tool brings back at most 8): gpu_check.log (every
# stage's output), gpu_check.json (the stages passed, the failure, seconds) and <bench>_gpu.json.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/benchmarks/results/gpu}
FULL=0 INSTALL=1
for arg in "$@"; do
  case $arg in
    --full) FULL=1 ;;
    --no-install) INSTALL=0 ;;
    *) echo "gpu_check: unknown argument $arg (takes --full, --no-install)" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOG=$OUT/gpu_check.log
: > "$LOG"
export PYTHONUNBUFFERED=1
# Python runs from a scratch folder, so that it imports the installed package, never the source tree.
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
PASSED=()
START=$SECONDS

# Each stage after the install gets at most what is left of the run's budget (seconds).
BUDGET=470
[ $FULL = 1 ] && BUDGET=1500
left() {
  local rest=$((BUDGET - (SECONDS - START)))
  echo $((rest < $1 ? rest : $1))
}
keep() {  # keep TITLE FILE: a stage's output into the log
  { echo "===== $1"; cat "$2"; } >> "$LOG"
}
summary() {  # summary STAGE WHY: gpu_check.json (STAGE empty when every stage passed)
  python3 - "$OUT/gpu_check.json" "$((SECONDS - START))" "$1" "$2" "${PASSED[@]}" <<'EOF'
import json, sys
path, seconds, stage, why, *passed = sys.argv[1:]
with open(path, "w") as f:
    json.dump({"stages_passed": passed, "failed_stage": stage or None, "why": why or None,
               "seconds": int(seconds)}, f, indent=2)
EOF
}
passed() {
  PASSED+=("$1 ($((SECONDS - START)) s)")
  echo "gpu_check: passed $1" | tee -a "$LOG"
}
fail() {
  summary "$1" "$2"
  echo "gpu_check: stages passed: ${PASSED[*]:-none}" | tee -a "$LOG"
  echo "gpu_check: FAILED at $1: $2" | tee -a "$LOG"
  exit 1
}

# --- device ---
if ! command -v nvidia-smi > /dev/null; then
  fail device "no NVIDIA GPU visible (nvidia-smi is not installed): run this on a GPU machine"
fi
if ! nvidia-smi --query-gpu=name,compute_cap,driver_version,clocks.sm,clocks.max.sm,memory.total \
    --format=csv > "$SCRATCH/gpu.txt" 2>&1; then
  keep device "$SCRATCH/gpu.txt"
  fail device "no NVIDIA GPU visible (nvidia-smi: $(head -1 "$SCRATCH/gpu.txt"))"
fi
keep device "$SCRATCH/gpu.txt"
cat "$SCRATCH/gpu.txt"
CAP=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
if ! [[ $CAP =~ ^[0-9]+$ ]]; then
  fail device "nvidia-smi lists no GPU with a compute capability (got '$CAP')"
fi
passed "device (sm_$CAP)"

# --- install ---
if [ $INSTALL = 1 ]; then
  python3 -m pip install --no-build-isolation --no-deps --force-reinstall \
    -C cmake.define.LRCN_CUDA=ON -C cmake.define.CMAKE_CUDA_ARCHITECTURES="$CAP" \
    -C build-dir="$SCRATCH/build" "$ROOT" > "$SCRATCH/build.log" 2>&1
  rc=$?
  keep install "$SCRATCH/build.log"
  if [ $rc != 0 ]; then
    tail -20 "$SCRATCH/build.log"
    fail install "pip install with LRCN_CUDA=ON failed (last lines above, all in gpu_check.log)"
  fi
  passed install
fi

# --- cuda ---
(cd "$SCRATCH" && python3 - "$ROOT" > "$SCRATCH/cuda.txt" 2>&1) <<'EOF'
import os, sys
root = os.path.realpath(sys.argv[1])
import lrcn_native
from lrcn_native import backend
where = os.path.realpath(os.path.dirname(lrcn_native.__file__))
if where.startswith(root + os.sep):
    sys.exit(f"lrcn_native was imported from the source tree {where}, not an installed package")
if backend.K.__name__ != "lrcn_native._cuda":
    sys.exit(f"the CUDA module did not import: {backend.K.__name__} (a CPU-only build) from {where}")
if backend.K.device_count() == 0:
    sys.exit("lrcn_native._cuda sees no CUDA device")
import cupy
lrcn_native.set_mode_gpu()
print(f"lrcn_native {where}: {backend.K.__name__}, {backend.K.device_count()} device(s), "
      f"{cupy.cuda.runtime.getDeviceProperties(0)['name'].decode()}, cupy {cupy.__version__}, "
      f"CPU BLAS {backend.blas_library}")
EOF
rc=$?
keep cuda "$SCRATCH/cuda.txt"
cat "$SCRATCH/cuda.txt"
[ $rc = 0 ] || fail cuda "$(tail -1 "$SCRATCH/cuda.txt")"
passed cuda

# --- tests ---
# -p no:cacheprovider: nothing written into the source tree; LRCN_TEST_INSTALLED: conftest.py keeps the
# source tree off the path, so the tests import the installed package even beside an in-place build.
SELECT=(-k "gpu or cuda")
[ $FULL = 1 ] && SELECT=()
[ "$(left 300)" -gt 30 ] || fail tests "the time budget ran out before the tests"
(cd "$SCRATCH" && LRCN_TEST_INSTALLED=1 timeout "$(left 300)" python3 -m pytest -rs -q -p no:cacheprovider \
  "${SELECT[@]}" "$ROOT/tests") > "$SCRATCH/tests.log" 2>&1
rc=$?
keep tests "$SCRATCH/tests.log"
grep -E "^(SKIPPED|FAILED|ERROR)|passed|failed" "$SCRATCH/tests.log" | tail -40
[ $rc = 124 ] && fail tests "pytest ran out of the time budget (see gpu_check.log)"
[ $rc = 0 ] || fail tests "pytest exited with $rc (see gpu_check.log)"
if grep -q "no CUDA device" "$SCRATCH/tests.log"; then  # tests/util.py's needs_gpu reason
  fail tests "GPU tests were skipped for want of a device"
fi
passed tests

# --- sanitizer ---
if command -v compute-sanitizer > /dev/null; then
  for tool in memcheck racecheck; do
    if [ "$(left 90)" -lt 20 ]; then
      echo "gpu_check: compute-sanitizer $tool not run: the time budget is spent" | tee -a "$LOG"
      continue
    fi
    log=$SCRATCH/sanitizer_$tool.log
    (cd "$SCRATCH" && LRCN_TEST_INSTALLED=1 timeout "$(left 90)" compute-sanitizer --tool $tool --error-exitcode 99 \
      python3 -m pytest -q -p no:cacheprovider -k "small" "$ROOT/tests/test_gpu_kernels.py") > "$log" 2>&1
    rc=$?
    keep "sanitizer $tool" "$log"
    found=$(grep -m1 "ERROR SUMMARY" "$log")
    if [ $rc = 0 ]; then
      echo "gpu_check: compute-sanitizer $tool: clean (${found:-no summary})" | tee -a "$LOG"
    elif [ $rc = 99 ] || grep -qE "ERROR SUMMARY: [1-9]" "$log"; then
      grep -m10 "=========" "$log"
      fail sanitizer "compute-sanitizer $tool found errors (see gpu_check.log)"
    elif [ $rc = 124 ]; then
      echo "gpu_check: compute-sanitizer $tool did not finish in its time" | tee -a "$LOG"
    else
      echo "gpu_check: compute-sanitizer $tool did not run here (exit $rc):" \
        "$(grep -m1 -iE "error|not supported" "$log")" | tee -a "$LOG"
    fi
  done
  passed sanitizer
else
  echo "gpu_check: compute-sanitizer is not installed: memcheck and racecheck not run" | tee -a "$LOG"
fi

# --- bench ---
# Each benchmark gets a time limit so the whole check stays inside one device call. The GEMM benchmark
# always runs whole (our SGEMM as a % of cuBLAS on every shape); the others are smoke runs (--quick)
# unless --full.
QUICK=(--quick)
[ $FULL = 1 ] && QUICK=()
for spec in gemm:120 conv:60 lstm:45 train:60; do
  b=${spec%%:*} limit=$(left "${spec##*:}")
  [ "$limit" -gt 5 ] || fail bench "the time budget ran out before bench_$b.py"
  args=("${QUICK[@]}")
  [ $b = gemm ] && args=()
  (cd "$SCRATCH" && timeout "$limit" python3 "$ROOT/benchmarks/bench_$b.py" --device gpu "${args[@]}" \
    --out "$OUT/${b}_gpu.json") > "$SCRATCH/bench.log" 2>&1
  rc=$?
  keep "bench_$b" "$SCRATCH/bench.log"
  tail -25 "$SCRATCH/bench.log"
  [ $rc = 0 ] || fail bench "bench_$b.py --device gpu exited with $rc (see gpu_check.log)"
done
passed bench

summary "" ""
echo "gpu_check: stages passed: ${PASSED[*]}" | tee -a "$LOG"
echo "gpu_check: OK in $((SECONDS - START)) s; results in $OUT" | tee -a "$LOG"
