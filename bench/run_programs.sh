#!/usr/bin/env bash
# Warm clones of programs (bench/program_clone_bench.cc), apart from the
# rest of bench/run.sh, which calls it at its end. Writes bench/results/:
#   program_clone_runs.csv   one row per variant and run: median, p10, p90 (ms)
#   program_clone.txt        each run's summary with the ratios, and the load
#
#   bash bench/run_programs.sh
#
# Environment: BENCH_BUILD_DIR (default build-bench), BENCH_SKIP_BUILD=1 (use
# what is built), BENCH_PROGRAM_RUNS (runs, default 3), BENCH_PROGRAM_ROUNDS
# (rounds of one cycle of every variant per run, default 60). About 40 s a
# run on 2 cores.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
build="${BENCH_BUILD_DIR:-$repo/build-bench}"
results="$repo/bench/results"
runs="${BENCH_PROGRAM_RUNS:-3}"
rounds="${BENCH_PROGRAM_ROUNDS:-60}"
mkdir -p "$results"

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  bash "$repo/scripts/install_deps.sh"
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DGTEST_FORK_ENV_BUILD_BENCH=ON -DGTEST_FORK_ENV_BUILD_SAMPLE=ON \
    -DGTEST_FORK_ENV_BUILD_TESTS=OFF -DGTEST_FORK_ENV_INSTALL=OFF >/dev/null
  cmake --build "$build" -j2 -t program_clone_bench
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
: >"$results/program_clone.txt"
echo "run,variant,cycles,median_ms,p10_ms,p90_ms" >"$results/program_clone_runs.csv"
for run in $(seq 1 "$runs"); do
  mkdir -p "$tmp/$run"
  {
    echo "== run $run, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(uname -sr)"
    "$build/bench/program_clone_bench" --rounds="$rounds" --out_dir="$tmp/$run"
  } | tee -a "$results/program_clone.txt"
  tail -n +2 "$tmp/$run/program_clone.csv" | sed "s/^/$run,/" >>"$results/program_clone_runs.csv"
done
