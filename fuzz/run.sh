#!/usr/bin/env bash
# Builds the libFuzzer targets of the sample server with clang-14 and runs
# each for a bounded time on a copy of its seed corpus (fuzz/corpus/<name>,
# never written to). Fails on any crash, leak, timeout, out-of-memory or
# contract violation, and prints the reproducer's path.
#
#   FUZZ_SECONDS=60        run time of each fuzzer (default 60)
#   FUZZ_BUILD_DIR=...     build directory (default build-fuzz)
#   FUZZ_WORK_DIR=...      corpus copies, logs and reproducers
#                          (default <build dir>/fuzz-work, emptied first)
#   FUZZ_JOBS=2            build parallelism (default 2)
#
# Reproduce a failure: <build dir>/fuzz/<fuzzer> <reproducer path>
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${FUZZ_SECONDS:-60}"
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
work="${FUZZ_WORK_DIR:-$build/fuzz-work}"
jobs="${FUZZ_JOBS:-2}"
fuzzers=(request_fuzzer data_log_fuzzer)

# What the build needs: the project's own dependencies, and clang-14 with its
# runtime libraries (libFuzzer is in libclang-rt-14-dev).
bash "$root/scripts/install_deps.sh" clang-14 libclang-rt-14-dev zlib1g-dev

CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DGTEST_FORK_ENV_BUILD_FUZZ=ON -DGTEST_FORK_ENV_BUILD_TESTS=OFF \
  -DGTEST_FORK_ENV_INSTALL=OFF >/dev/null
cmake --build "$build" -j "$jobs" --target "${fuzzers[@]}"

rm -rf "$work"
mkdir -p "$work"
# The fuzzers' data files: every input writes, syncs and replays one, so
# they go to tmpfs when there is one (on a disk, fdatasync makes the data-log
# fuzzer some 40 times slower).
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
  tmp_root="$(mktemp -d /dev/shm/gtest_fork_env_fuzz.XXXXXX)"
else
  tmp_root="$(mktemp -d "$work/tmp.XXXXXX")"
fi
trap 'rm -rf "$tmp_root"' EXIT
status=0
for fuzzer in "${fuzzers[@]}"; do
  name="${fuzzer%_fuzzer}"
  corpus="$work/$name/corpus"    # the seeds, then what the run adds
  artifacts="$work/$name/artifacts/"
  tmp="$tmp_root/$name"
  mkdir -p "$corpus" "$artifacts" "$tmp"
  cp "$root/fuzz/corpus/$name/"* "$corpus/"
  seeds=$(ls "$corpus" | wc -l)
  options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048
    -max_len=12000 -print_final_stats=1 -artifact_prefix="$artifacts")
  if [ -f "$root/fuzz/$name.dict" ]; then options+=(-dict="$root/fuzz/$name.dict"); fi
  echo "== $fuzzer: ${seconds}s on $seeds seeds"
  log="$work/$name/fuzz.log"
  # detect_leaks: on by default with ASan; set here so it is never lost.
  if TMPDIR="$tmp" ASAN_OPTIONS="detect_leaks=1:${ASAN_OPTIONS:-}" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}" \
    "$build/fuzz/$fuzzer" "${options[@]}" "$corpus" >"$log" 2>&1; then
    result=ok
  else
    result=FAILED
    status=1
  fi
  grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb|new_units_added)' "$log" || true
  echo "   corpus: $seeds seeds -> $(ls "$corpus" | wc -l) inputs"
  if [ "$result" = FAILED ]; then
    echo "== $fuzzer FAILED; its log: $log" >&2
    grep -E 'ERROR:|CONTRACT VIOLATED|SUMMARY:|Test unit written to' "$log" >&2 || tail -n 30 "$log" >&2
    for reproducer in "$artifacts"*; do
      [ -e "$reproducer" ] || continue
      echo "   reproducer: $reproducer" >&2
      echo "   reproduce:  $build/fuzz/$fuzzer $reproducer" >&2
    done
  else
    echo "== $fuzzer ok"
  fi
done
exit "$status"
