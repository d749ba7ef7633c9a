#!/usr/bin/env bash
# One call on a GPU machine (the offline H200 box of the device tool): build with CUDA, run the whole test
# suite (the GPU parity tests run there instead of skipping), then the GPU benchmarks. Everything it
# measures goes to $OUT (default benchmarks/results/gpu) so it comes back in one piece.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results/gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,memory.total --format=csv > "$OUT/gpu.txt" 2>&1
python3 -m pip install -q --no-build-isolation . 2>&1 | tail -5 | tee "$OUT/build.log"
python3 -m pytest -q -x -p no:cacheprovider tests 2>&1 | tee "$OUT/tests.log" | tail -15
for b in gemm conv lstm train; do
  if [ -f "benchmarks/bench_$b.py" ]; then
    timeout 300 python3 "benchmarks/bench_$b.py" --device gpu --out "$OUT/${b}_gpu.json" 2>&1 | tail -25
  fi
done
ls -la "$OUT"
