#!/usr/bin/env bash
# CI's Bazel job: `bazel test //...` from a clean clone, with Debian 12's
# Bazel 4.2.3 (bazel-bootstrap) fully offline (WORKSPACE, .bazelrc), the
# sharded tests split as a remote executor would split them. Installs what
# it needs; bounded by BAZEL_TEST_TIMEOUT seconds (default 900) in all: a
# cold run takes about 9 minutes on 2 shared cores
# (docs/running-across-machines.md).
# Bazel's output base is outside the clone (~/.cache/bazel), so the clone
# stays clean and a second run is incremental.
# Extra arguments go to `bazel test` (e.g. a target pattern of your own:
# scripts/bazel_test.sh //tests:all).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install_deps.sh bazel-bootstrap bazel-rules-java

# Bazel's server (a JVM) would otherwise stay up for hours after the job, and
# a timeout kills only the client: stop the server on every exit. The output
# base stays, so the next run is still incremental.
trap 'bazel shutdown >/dev/null 2>&1 || true' EXIT

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(//...)
fi
start=$(date +%s)
timeout --kill-after=30 "${BAZEL_TEST_TIMEOUT:-900}" \
  bazel test --test_summary=short "${targets[@]}"
echo "bazel_test: bazel test ${targets[*]} passed in $(( $(date +%s) - start )) s"
