#!/usr/bin/env bash
# Runs every benchmark of gtest_fork_env and writes bench/results/:
#   RESULTS.md               the tables, the machine and the date
#   lifecycle.txt/.json      start-to-ready and stop-to-reaped (Google Benchmark)
#   lifecycle_summary.csv    one row per variant: percentiles and ratios to its floor
#   lifecycle_samples.csv    every cycle of every variant
#   process_cost.csv/.txt    whole test binaries with and without the environment,
#                            by phase, against the floor; link costs
#   process_cost_runs.csv    every run of process_cost_bench
#   wholerun.csv             whole-run wall time under ctest -j2, 10/100/1000 tests
#                            (per_test: Scope::kTest, one process, BATCH BINARY)
#   clone_runs.csv           per-test scope (clone_bench): one summary row per
#                            variant and run; clone_samples.csv every cycle
#   wrk.csv, wrk_*.txt       the sample server under wrk (GET and PUT)
#   program_clone*.{csv,txt} warm clones of programs (bench/run_programs.sh)
#   big_template*.{csv,txt}  64 and 256 MiB templates with and without huge
#                            pages (bench/run_big_templates.sh)
#   benchmarks.png           the plot
#
#   bash bench/run.sh
#
# Environment: BENCH_BUILD_DIR (default build-bench), BENCH_CYCLES (cycles of
# each fast variant, default 400), BENCH_WRK_SECONDS (default 10),
# BENCH_SKIP_BUILD=1 (use what is built), BENCH_PROCESS_RUNS (runs of each
# whole binary in process_cost_bench, default 60), BENCH_PROCESS_RT=1 (run
# process_cost_bench under SCHED_FIFO), BENCH_CLONE_RUNS (runs of clone_bench,
# default 3), BENCH_WHOLERUN_ROUNDS_1000 (rounds of the 1000-test whole runs,
# default 1), BENCH_CLONE_RT=0|1 (clone_bench under SCHED_FIFO; default 1 as
# root). Before the per-test parts it ran for about 5 minutes on 2 cores at a
# low load; BENCH_ONLY=per_test took 13 minutes at a load average of 10.
#
# BENCH_ONLY=per_test runs only the per-test scope's parts (clone_bench and the
# 1000-test whole runs per_test, per_process and shared; about 3 minutes) and
# keeps the other results as they are; RESULTS.md and the plot are remade.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
build="${BENCH_BUILD_DIR:-$repo/build-bench}"
results="$repo/bench/results"
cycles="${BENCH_CYCLES:-400}"
wrk_seconds="${BENCH_WRK_SECONDS:-10}"
only="${BENCH_ONLY:-}"
case "$only" in
  "" | per_test) ;;
  *) echo "run.sh: BENCH_ONLY is empty or per_test, not '$only'" >&2; exit 64 ;;
esac
mkdir -p "$results"

log() { printf '\n== %s\n' "$*"; }
now_ns() { date +%s%N; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# ---------------------------------------------------------------- build
if [ "$(id -u)" -eq 0 ]; then
  bash "$repo/scripts/install_deps.sh"
  bash "$repo/bench/install_bench_deps.sh"
else
  bash "$repo/bench/install_bench_deps.sh" || {
    echo "run.sh: install the packages above (as root), then run again" >&2
    exit 1
  }
fi
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  log "configure and build ($build, -j2)"
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DGTEST_FORK_ENV_BUILD_BENCH=ON -DGTEST_FORK_ENV_BENCH_WHOLERUN=ON \
    -DGTEST_FORK_ENV_BUILD_SAMPLE=ON \
    -DGTEST_FORK_ENV_BUILD_TESTS=OFF -DGTEST_FORK_ENV_INSTALL=OFF >/dev/null
  cmake --build "$build" -j2
fi
bench_dir="$build/bench"
[ -x "$bench_dir/lifecycle_bench" ] || { echo "run.sh: no $bench_dir/lifecycle_bench" >&2; exit 1; }

machine_file="$results/machine.txt"
[ -n "$only" ] && machine_file="$results/machine_per_test.txt"
{
  echo "date_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  echo "cores=$(nproc)"
  echo "memory=$(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
  echo "kernel=$(uname -sr)"
  echo "os=$(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "compiler=$(c++ --version | head -1)"
  echo "load_before=$(loadavg)"
  echo "compilers_running_before=$(pgrep -c -x cc1plus || true)"
} >"$machine_file"

# ------------------------------------------------- start-to-ready / stop-to-reaped
if [ -z "$only" ]; then
log "lifecycle: $cycles cycles of each fast variant, interleaved (about a minute)"
echo "load_lifecycle_start=$(loadavg)" >>"$results/machine.txt"
"$bench_dir/lifecycle_bench" --out_dir="$results" --cycles="$cycles" \
  --benchmark_enable_random_interleaving=true \
  --benchmark_out="$results/lifecycle.json" --benchmark_out_format=json \
  --benchmark_report_aggregates_only=true | tee "$results/lifecycle.txt"
echo "load_lifecycle_end=$(loadavg)" >>"$results/machine.txt"

# ------------------------------------------- what a test process pays (whole binaries)
log "process cost: whole test binaries with and without the environment, link costs"
echo "load_process_cost_start=$(loadavg)" >>"$results/machine.txt"
# BENCH_PROCESS_RT=1 runs it under SCHED_FIFO (chrt -f 10, as root): on a
# machine shared with other work, that shields every process of the
# measurement (binaries, servers, floor) alike from the others' load.
rt=()
[ "${BENCH_PROCESS_RT:-0}" = 1 ] && rt=(chrt -f 10)
"${rt[@]}" "$bench_dir/process_cost_bench" --runs="${BENCH_PROCESS_RUNS:-60}" --out_dir="$results" \
  --modes=env,env_idle,floor \
  | tee "$results/process_cost.txt"
echo "load_process_cost_end=$(loadavg)" >>"$results/machine.txt"
fi  # not BENCH_ONLY

# ---------------------------------------------------- per-test scope (clone_bench)
# Each run interleaves its variants at random; the runs give the ranges.
clone_runs="${BENCH_CLONE_RUNS:-3}"
log "per-test scope: clone_bench, $clone_runs runs of $cycles cycles (about 40 s each)"
echo "load_clone_start=$(loadavg)" >>"$machine_file"
# BENCH_CLONE_RT=1 (the default as root) runs it under SCHED_FIFO, as
# BENCH_PROCESS_RT does for process_cost_bench: on a shared 2-core machine the
# load otherwise decides the figures of a path with four wake-ups (test
# process, template, clone, worker thread) more than the path itself.
clone_rt=()
if [ "${BENCH_CLONE_RT:-$([ "$(id -u)" -eq 0 ] && echo 1 || echo 0)}" = 1 ]; then
  clone_rt=(chrt -f 10)
fi
echo "clone_rt=${clone_rt[*]:-none}" >>"$machine_file"
clone_tmp="$(mktemp -d)"
for run in $(seq 1 "$clone_runs"); do
  mkdir -p "$clone_tmp/$run"
  "${clone_rt[@]}" "$bench_dir/clone_bench" --out_dir="$clone_tmp/$run" --cycles="$cycles" \
    --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true \
    | tee "$clone_tmp/$run/clone.txt"
done
for name in summary samples; do
  {
    printf 'run,'; head -1 "$clone_tmp/1/clone_$name.csv"
    for run in $(seq 1 "$clone_runs"); do
      tail -n +2 "$clone_tmp/$run/clone_$name.csv" | sed "s/^/$run,/"
    done
  } >"$results/clone_$([ $name = summary ] && echo runs || echo samples).csv"
done
cat "$clone_tmp"/*/clone.txt >"$results/clone.txt"
rm -rf "$clone_tmp"
echo "load_clone_end=$(loadavg)" >>"$machine_file"

# ------------------------------------------------------ whole run under ctest
# Each (size, mode) is a ctest run of its own; the modes take turns, and for
# 10 and 100 tests there are 3 rounds (the median is reported), so that a
# change in the machine's load hits the modes alike.
wholerun="$bench_dir/wholerun"
sizes="10 100 1000"
modes="per_process shared one_process per_test per_test_kill"
if [ -n "$only" ]; then
  # Keep the rows of the other sizes and modes; these are measured again.
  sizes=1000
  modes="per_test per_test_kill per_process shared"
  if [ -f "$results/wholerun_runs.csv" ]; then
    grep -v -E '^1000,(per_test|per_test_kill|per_process|shared),' "$results/wholerun_runs.csv" \
      >"$results/wholerun_runs.csv.kept" || true
    mv "$results/wholerun_runs.csv.kept" "$results/wholerun_runs.csv"
  fi
else
  echo "n,mode,round,ctest_tests,passed,wall_s" >"$results/wholerun_runs.csv"
fi
# One ctest run of the set n<N>_<mode>, appended to wholerun_runs.csv.
run_set() {
  local n="$1" mode="$2" round="$3" dir="$wholerun/n$1_$2" start end out passed total wall
  [ -d "$dir" ] || return 0  # per_test_kill: 1000 tests only
  start=$(now_ns)
  if out=$(ctest --test-dir "$dir" -j2 2>&1); then passed=yes; else passed=no; fi
  end=$(now_ns)
  total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' <<<"$out" | tail -1)
  wall=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.3f", (b - a) / 1e9}')
  echo "$n,$mode,$round,${total:-0},$passed,$wall" >>"$results/wholerun_runs.csv"
  printf '%5s tests  %-12s round %s: %5s ctest tests  passed=%-3s  wall %8.2f s\n' \
    "$n" "$mode" "$round" "${total:-0}" "$passed" "$wall"
  [ "$passed" = yes ] || { echo "$out" | tail -20; }
}
if [ -d "$wholerun" ]; then
  log "whole run under ctest -j2: $sizes tests, ways: $modes (about 4 minutes)"
  echo "load_wholerun_start=$(loadavg)" >>"$machine_file"
  for n in $sizes; do
    rounds=3
    [ "$n" -ge 1000 ] && rounds="${BENCH_WHOLERUN_ROUNDS_1000:-1}"
    for round in $(seq 1 "$rounds"); do
      for mode in $modes; do
        run_set "$n" "$mode" "$round"
      done
    done
  done
  # Options::lazy_start: 100 tests with a second, unused Python server, in
  # full and per_test runs (about 4 minutes at a load of 7, mostly eager).
  grep -v -E '^100,unused_' "$results/wholerun_runs.csv" >"$results/wholerun_runs.csv.kept" || true
  mv "$results/wholerun_runs.csv.kept" "$results/wholerun_runs.csv"
  for round in 1 2 3; do
    for mode in unused_eager unused_lazy; do
      run_set 100 "$mode" "$round"
    done
  done
  echo "load_wholerun_end=$(loadavg)" >>"$machine_file"
else
  echo "run.sh: no sample server built: no whole-run comparison" >&2
fi
python3 - "$results" <<'EOF2'
import csv, statistics, sys
results = sys.argv[1]
runs = list(csv.DictReader(open(f"{results}/wholerun_runs.csv")))
with open(f"{results}/wholerun.csv", "w") as out:
    out.write("n,mode,rounds,ctest_tests,passed,wall_s,wall_per_test_ms\n")
    keys = []
    for r in runs:
        if (r["n"], r["mode"]) not in keys:
            keys.append((r["n"], r["mode"]))
    for n, mode in keys:
        rs = [r for r in runs if r["n"] == n and r["mode"] == mode]
        wall = statistics.median(float(r["wall_s"]) for r in rs)
        passed = "yes" if all(r["passed"] == "yes" for r in rs) else "no"
        out.write(f"{n},{mode},{len(rs)},{rs[0]['ctest_tests']},{passed},{wall:.3f},"
                  f"{wall * 1000 / int(n):.2f}\n")
EOF2

# --------------------------------------------------------- wrk against the sample server
[ -n "$only" ] || echo "config,method,requests_per_s,requests,errors,non_2xx,p50_ms,p90_ms,p99_ms,max_ms" \
  >"$results/wrk.csv"
if [ -n "$only" ]; then
  echo "run.sh: BENCH_ONLY=$only: wrk skipped, its results kept" >&2
elif [ -x "$wholerun/wholerun_shared_ctl" ] && command -v wrk >/dev/null; then
  log "wrk on loopback: GET and PUT, ${wrk_seconds}s each, 2 threads, 16 connections"
  echo "load_wrk_start=$(loadavg)" >>"$results/machine.txt"
  state="$(mktemp -d)/server.state"
  for config in default quiet; do
    level=""
    [ "$config" = quiet ] && level="warn"  # no access log line per request
    SPDLOG_LEVEL="${level:-info}" "$wholerun/wholerun_shared_ctl" start "$state" \
      "$build/sample_server/sample_server"
    port=$(cut -d' ' -f1 "$state")
    curl -fsS -X PUT -H 'Content-Type: application/octet-stream' --data-binary 'hello' \
      "http://127.0.0.1:$port/v1/kv/bench-key" >/dev/null
    for method in GET PUT; do
      if [ "$method" = GET ]; then
        args=(-s "$repo/bench/wrk/get.lua" "http://127.0.0.1:$port/v1/kv/bench-key")
      else
        args=(-s "$repo/bench/wrk/put.lua" "http://127.0.0.1:$port")
      fi
      wrk -t2 -c16 -d"${wrk_seconds}s" --timeout 2s --latency "${args[@]}" \
        | tee "$results/wrk_${config}_${method}.txt"
      python3 - "$config" "$method" "$results/wrk_${config}_${method}.txt" \
        >>"$results/wrk.csv" <<'EOF'
import json, sys
config, method, path = sys.argv[1:]
line = [l for l in open(path) if l.startswith("WRK_JSON ")][-1]
d = json.loads(line[len("WRK_JSON "):])
rps = d["requests"] / (d["duration_us"] / 1e6)
print(f'{config},{method},{rps:.0f},{d["requests"]},{d["errors"]},{d["non_2xx"]},'
      f'{d["p50_us"]/1e3:.2f},{d["p90_us"]/1e3:.2f},{d["p99_us"]/1e3:.2f},{d["max_us"]/1e3:.2f}')
EOF
    done
    "$wholerun/wholerun_shared_ctl" stop "$state"
  done
  rm -rf "$(dirname "$state")"
  echo "load_wrk_end=$(loadavg)" >>"$results/machine.txt"
else
  echo "run.sh: no wrk or no sample server: no load test" >&2
fi
echo "compilers_running_after=$(pgrep -c -x cc1plus || true)" >>"$machine_file"

# ------------------------------------------- warm clones of programs
if [ -z "$only" ]; then
  log "warm clones of programs (bench/run_programs.sh, about 2 minutes)"
  BENCH_BUILD_DIR="$build" BENCH_SKIP_BUILD=1 bash "$repo/bench/run_programs.sh"
fi

# ----------------------------------------------- big warm templates
if [ -z "$only" ] || [ "$only" = per_test ]; then
  log "big warm templates (bench/run_big_templates.sh, about 1 minute)"
  BENCH_BUILD_DIR="$build" BENCH_SKIP_BUILD=1 bash "$repo/bench/run_big_templates.sh"
fi

# ----------------------------------------------------------- plot and report
log "plot and RESULTS.md"
python3 "$repo/bench/report.py" "$results"
(cd "$results" && gnuplot benchmarks.gp)
echo
echo "wrote $results/RESULTS.md and $results/benchmarks.png"
