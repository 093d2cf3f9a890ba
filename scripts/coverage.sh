#!/usr/bin/env bash
# Line and branch coverage of the library (gtest_fork_env/) under its own
# test suite, measured with gcov and printed by gcovr. Forked and re-executed
# server children write their counters before _exit (DumpCoverage), so the
# code they run counts. The consumer builds and the soak are left out: they
# add time, not coverage.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install_deps.sh
command -v gcovr >/dev/null || {
  if [ "$(id -u)" -eq 0 ]; then
    apt-get install -y -qq --no-install-recommends gcovr >/dev/null
  else
    echo "coverage: run as root: apt-get install -y gcovr" >&2
    exit 1
  fi
}
build=build/coverage
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS="--coverage -DGTEST_FORK_ENV_COVERAGE" -DGTEST_FORK_ENV_BUILD_SAMPLE=OFF \
  >/dev/null
cmake --build "$build" -j "$(nproc)"
find "$build" -name '*.gcda' -delete
ctest --test-dir "$build" -j "$(nproc)" -LE "consumer|soak" --output-on-failure --timeout 300
gcovr --root . --object-directory "$build" --filter 'gtest_fork_env/' \
  --exclude-throw-branches --exclude-unreachable-branches --txt --print-summary
