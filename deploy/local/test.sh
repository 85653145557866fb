#!/usr/bin/env bash
# Runs every test of ofa-train on a fresh Debian 12 machine: installs what is missing, then
# the Bazel suite (unit, integration, end-to-end), then the CMake build of the CUDA variant
# that GPU machines use, so neither build can rot. Ends with one line "tests: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."

bash deploy/local/setup.sh || { echo "test.sh: setup failed" >&2; exit 1; }

# CI logs are read by people: no curses progress, one line per finished action.
BAZEL_FLAGS=(--color=no --curses=no)
echo "== bazel test //..."
bazel_log=$(mktemp)
bazel test "${BAZEL_FLAGS[@]}" --test_summary=short //... 2>&1 | tee "$bazel_log"
bazel_rc=${PIPESTATUS[0]}
# Bazel prints one line per test target: "//pkg:name   PASSED in 0.1s" (or "(cached) PASSED").
passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$bazel_log")
failed=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|FLAKY|INCOMPLETE)' "$bazel_log")
if [ "$bazel_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1  # The build itself failed before any test ran.
fi

# The CUDA variant with CMake, as the GPU machines build it: every CUDA source (the NCCL
# backend and the GPU tests) compiled with /usr/local/cuda's CUDA 13 and NCCL against the
# wheel's LibTorch, and linked, so a CUDA compile error fails here. The CPU tests ran under
# Bazel above; of this build only the CUDA tests run, and with no GPU they skip, saying so.
echo "== CMake build, CUDA variant (the GPU machines' build)"
torch_cmake=$(.deps/venv/bin/python3 -c \
  "import importlib.util as u; print(u.find_spec('torch').submodule_search_locations[0])")/share/cmake
cmake_dir=build/cmake-cuda
mkdir -p build
if cmake -S . -B "$cmake_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DOFA_WITH_CUDA=ON \
     -DCMAKE_PREFIX_PATH="$torch_cmake" -DOFA_TEST_REGEX='(nccl|cuda|gpu)[a-z_]*_test\.cc$' \
     >"$cmake_dir.log" 2>&1 &&
   cmake --build "$cmake_dir" -j"$(nproc)" >>"$cmake_dir.log" 2>&1; then
  grep -E "ofa-train: " "$cmake_dir.log"
  ctest_log=$(mktemp)
  (cd "$cmake_dir" && ctest --output-on-failure -V) 2>&1 | tee "$ctest_log" |
    grep -E "Test +#|SKIPPED|Skipped|CUDA device|tests passed|tests failed|Failed|\*\*\*"
  ctest_rc=${PIPESTATUS[0]}
  # ctest's summary: "90% tests passed, 1 tests failed out of 10".
  summary=$(grep -E '[0-9]+ tests failed out of [0-9]+' "$ctest_log" | tail -1)
  ctest_failed=$(sed -E 's/.* ([0-9]+) tests failed out of.*/\1/' <<<"$summary")
  ctest_total=$(sed -E 's/.*failed out of ([0-9]+).*/\1/' <<<"$summary")
  if [ -z "$summary" ]; then
    ctest_failed=1 ctest_total=1  # ctest printed no summary: count it as one failure.
  elif [ "$ctest_rc" -ne 0 ] && [ "$ctest_failed" -eq 0 ]; then
    ctest_failed=1  # ctest failed without a failing test (e.g. a crash before running).
  fi
  passed=$((passed + ctest_total - ctest_failed))
  failed=$((failed + ctest_failed))
else
  tail -40 "$cmake_dir.log"
  echo "CMake CUDA build failed (full log: $cmake_dir.log)"
  failed=$((failed + 1))
fi

echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
