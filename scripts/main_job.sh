#!/usr/bin/env bash
# The main job: install what is missing, build, and run the sample server's
# integration suite under ctest: one process per test suite, every test
# against a fresh server of its own (Scope::kTest, a clone of a warm
# template). Prints ctest's summary; exits non-zero when a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install_deps.sh
cmake -S . -B build/main-job -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/main-job -j "$(nproc)"
ctest --test-dir build/main-job -L sample -j "$(nproc)" --output-on-failure
