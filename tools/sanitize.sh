#!/usr/bin/env bash
# Builds the CPU extension with AddressSanitizer + UndefinedBehaviorSanitizer in a copy of the tree and runs
# the test suite on it (the extension is built beside the package's sources, so a copy keeps the normal build
# untouched). Usage: tools/sanitize.sh [pytest arguments, default: tests]
# Python itself is not instrumented: libasan is preloaded, with the compiler's libstdc++ (without it, any C++
# exception the extension throws ends in std::terminate, as a wheel's own libstdc++ is found first); leak
# checking is off (the interpreter keeps its allocations at exit); a failed malloc returns NULL as it does
# without ASan (libhdf5 asks for what a corrupt header claims, then reports the failure: tests/test_fuzz.py);
# any ASan or UBSan report fails the run.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
work=${SANITIZE_DIR:-$(mktemp -d /tmp/lrcn_sanitize.XXXXXX)}
mkdir -p "$work"
# The files git knows (tracked and new), not build outputs
(cd "$src" && git ls-files -co --exclude-standard -z) | (cd "$src" && xargs -0 cp --parents -t "$work")
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
cmake -S "$work" -B "$work/build" -G Ninja -DLRCN_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
      -Dpybind11_DIR="$(python -m pybind11 --cmakedir)" >/dev/null
cmake --build "$work/build"
# The original LRCN files are found through LRCN_ORIGINAL (tests/util.py), as the copy is elsewhere
export LRCN_ORIGINAL=${LRCN_ORIGINAL:-$(dirname "$src")/shared/lrcn_original}
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd "$work"
LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)" python -m pytest -q -p no:cacheprovider "${@:-tests}"
