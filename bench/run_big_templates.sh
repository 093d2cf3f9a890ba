#!/usr/bin/env bash
# Big warm templates with and without Options::huge_pages
# (bench/big_template_bench.cc), apart from the rest of bench/run.sh, which
# calls it at its end. Writes bench/results/:
#   big_template_runs.csv   one row per variant and run (medians, ratios,
#                           the one-time collapse, memory)
#   big_template.txt        each run's summary, with the load and the kernel
#
#   bash bench/run_big_templates.sh
#
# Environment: BENCH_BUILD_DIR (default build-bench), BENCH_SKIP_BUILD=1 (use
# what is built), BENCH_BIG_RUNS (runs, default 3), BENCH_BIG_ROUNDS (rounds
# of one cycle of every variant per run, default 100). About 15 s a run on
# 2 cores; it needs about 1.5 GiB of memory.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
build="${BENCH_BUILD_DIR:-$repo/build-bench}"
results="$repo/bench/results"
runs="${BENCH_BIG_RUNS:-3}"
rounds="${BENCH_BIG_ROUNDS:-100}"
mkdir -p "$results"

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  bash "$repo/scripts/install_deps.sh"
  bash "$repo/bench/install_bench_deps.sh"
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DGTEST_FORK_ENV_BUILD_BENCH=ON -DGTEST_FORK_ENV_BUILD_TESTS=OFF \
    -DGTEST_FORK_ENV_INSTALL=OFF >/dev/null
  cmake --build "$build" -j2 -t big_template_bench
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
: >"$results/big_template.txt"
first=1
for run in $(seq 1 "$runs"); do
  mkdir -p "$tmp/$run"
  {
    echo "== run $run, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(uname -sr)," \
      "THP $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo none)"
    "$build/bench/big_template_bench" --rounds="$rounds" --out_dir="$tmp/$run"
  } | tee -a "$results/big_template.txt"
  if [ "$first" = 1 ]; then
    printf 'run,' >"$results/big_template_runs.csv"
    head -1 "$tmp/$run/big_template.csv" >>"$results/big_template_runs.csv"
    first=0
  fi
  tail -n +2 "$tmp/$run/big_template.csv" | sed "s/^/$run,/" >>"$results/big_template_runs.csv"
done
