#!/usr/bin/env bash
# Builds what it needs and runs the whole test suite with ctest, ending with
# ctest's summary. Exits non-zero when any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install_deps.sh
cmake -S . -B build/all -G Ninja -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build/all -j "$(nproc)"
ctest --test-dir build/all -j "$(nproc)" --output-on-failure --timeout 300
