#!/usr/bin/env bash
# The test suite built and run under AddressSanitizer and UndefinedBehavior-
# Sanitizer (the asan preset in CMakePresets.json). Forked and re-executed
# servers run instrumented too. Left out: the soak (a fork of an ASan process
# copies its huge shadow mappings: 2,000 cycles took over 120 s here, against
# 28 s without ASan) and the consumer builds (they rebuild the library; the
# plain run has both).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install_deps.sh
cmake --preset asan >/dev/null
cmake --build --preset asan
ctest --preset asan -LE 'consumer|soak' --timeout 600
