#!/usr/bin/env python3
"""Turns the CSV files of bench/run.sh into RESULTS.md and a gnuplot script
(benchmarks.gp) that draws benchmarks.png. Standard library only.

Usage: report.py RESULTS_DIR
"""
import csv
import os
import sys


def read_csv(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_machine(path):
    info = {}
    if os.path.exists(path):
        for line in open(path):
            key, _, value = line.rstrip("\n").partition("=")
            info[key] = value
    return info


WHAT = {
    "floor_fork": "floor: fork, port through a pipe, GET, SIGTERM, waitpid",
    "floor_exec": "floor: fork + exec bench_server, same cycle",
    "floor_reexec": "floor: fork + exec of the benchmark binary itself, same cycle",
    "env_fork_tcp": "ForkServerEnv, fork mode, Probe::TcpConnect (default)",
    "env_fork_http": "ForkServerEnv, fork mode, Probe::HttpGet(\"/hello\")",
    "env_fork_none": "ForkServerEnv, fork mode, Probe::None (port reported)",
    "env_reexec_tcp": "ForkServerEnv, SpawnMode::kReexec, Probe::TcpConnect",
    "env_exec_tcp": "ForkServerEnv::Exec(bench_server), Probe::TcpConnect",
    "env_exec_http": "ForkServerEnv::Exec(bench_server), Probe::HttpGet(\"/hello\")",
    "env_exec_none": "ForkServerEnv::Exec(bench_server), Probe::None: no readiness at all",
    "naive_fork": "naive: fixed port, GET retried every 100 ms, SIGTERM, waitpid",
    "sleep1s_fork": "naive: fixed port, sleep 1 s, GET, SIGTERM, waitpid",
}


CLONE_WHAT = {
    "floor_fork_byte": "floor: fork of a process the template's size; the child writes one byte "
                       "to a pipe, the parent reads it",
    "clone": "`Scope::kTest`: a test's clone of the template (`Start()`), default probe "
             "(TcpConnect), then one GET",
    "clone_http": "the same with `Probe::HttpGet(\"/hello\")` (`Start()` returns after the "
                  "library's own GET)",
    "scratch": "the same server started from scratch for the test (`Scope::kBinary` start: fork, "
               "bind, serve), then one GET",
    "floor_fork_byte_256m": "floor, from a process with 256 MiB written",
    "warm_clone_256m": "clone of a template that wrote 256 MiB before its checkpoint",
    "warm_scratch_256m": "from scratch, writing the same 256 MiB at each start",
}


def clone_runs_summary(rows):
    """Per variant, in the order of the first run: the median over runs of
    each figure, and the range (min, max) over runs of the key ones."""
    import statistics
    order, by = [], {}
    for r in rows:
        if r["variant"] not in by:
            order.append(r["variant"])
        by.setdefault(r["variant"], []).append(r)

    def nums(rs, key):
        out = []
        for r in rs:
            try:
                out.append(float(r[key]))
            except (KeyError, TypeError, ValueError):
                pass
        return out
    summary = []
    for v in order:
        rs = by[v]
        row = {"variant": v, "reference": rs[0]["reference"], "runs": len(rs),
               "cycles": sum(int(r["cycles"]) for r in rs),
               "failures": sum(int(r["failures"]) for r in rs)}
        for key in ("ready_p50_ms", "connect_p50_ms", "get_p50_ms", "get_p90_ms", "end_p50_ms",
                    "end_p90_ms",
                    "connect_ratio_p50", "get_ratio_p50", "test_ratio_p50", "faults_p50",
                    "back_p50_ms", "request_p50_ms"):
            values = nums(rs, key)
            row[key] = statistics.median(values) if values else None
            row[key + "_range"] = (min(values), max(values)) if values else None
        summary.append(row)
    return summary


def ranged(row, key, fmt, suffix=""):
    value, span = row.get(key), row.get(key + "_range")
    if value is None:
        return "-"
    text = fmt(value) + suffix
    if span and row["runs"] > 1:
        text += f" ({fmt(span[0])}–{fmt(span[1])})"
    return text


def clone_table(summary):
    f2 = lambda v: f"{v:.2f}"
    out = [
        "| variant | what it measures | cycles (runs) | ready | connect | GET answered "
        "| end of test | connect / ref. | GET / ref. | whole test / ref. | faults |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary:
        what = CLONE_WHAT.get(r["variant"], "")
        ref = f" (ref.: {r['reference']})" if r["reference"] else ""
        fail = f", **{r['failures']} failed**" if r["failures"] else ""
        out.append(
            f"| {r['variant']} | {what}{ref} | {r['cycles']} ({r['runs']}{fail}) "
            f"| {ranged(r, 'ready_p50_ms', ms)} | {ranged(r, 'connect_p50_ms', ms)} "
            f"| {ranged(r, 'get_p50_ms', ms)} | {ranged(r, 'end_p50_ms', ms)} "
            f"| {ranged(r, 'connect_ratio_p50', f2, '×') if r['reference'] else 'floor'} "
            f"| {ranged(r, 'get_ratio_p50', f2, '×') if r['reference'] else 'floor'} "
            f"| {ranged(r, 'test_ratio_p50', f2, '×') if r['reference'] else '-'} "
            f"| {ranged(r, 'faults_p50', lambda v: f'{v:.0f}')} |")
    return "\n".join(out)


def clone_phases_table(summary):
    out = [
        "| variant | ready (`Start()` returned) | back from `Checkpoint()` "
        "| request read | GET answered |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in summary:
        if r.get("back_p50_ms") is None:
            continue
        out.append(f"| {r['variant']} | {ms(r['ready_p50_ms'])} | {ms(r['back_p50_ms'])} "
                   f"| {ms(r['request_p50_ms'])} "
                   f"| {ms(r['get_p50_ms'])} |")
    return "\n".join(out)


def ms(value):
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "-"
    return f"{v:.1f}" if v >= 100 else f"{v:.2f}"


def ratio(value):
    try:
        return f"{float(value):.2f}×"
    except (TypeError, ValueError):
        return "-"


def lifecycle_table(rows):
    out = [
        "| variant | what | ready means | cycles | start p50 | p90 | p99 | max "
        "| stop p50 | p90 | p99 | max | start ÷ floor | stop ÷ floor |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        floor = r["floor"]
        start_ratio = "floor" if not floor else ratio(r["start_ratio_p50"])
        stop_ratio = "floor" if not floor else ratio(r["stop_ratio_p50"])
        if floor and r["proof"] == "none":
            start_ratio = "n/a"
        proof = {"get": "GET answered", "connect": "TCP accepted", "port": "port known",
                 "none": "nothing"}.get(r["proof"], r["proof"])
        out.append(
            f"| `{r['variant']}` | {WHAT.get(r['variant'], r['note'])} | {proof} | {r['cycles']} "
            f"| {ms(r['start_p50_ms'])} | {ms(r['start_p90_ms'])} | {ms(r['start_p99_ms'])} "
            f"| {ms(r['start_max_ms'])} | {ms(r['stop_p50_ms'])} | {ms(r['stop_p90_ms'])} "
            f"| {ms(r['stop_p99_ms'])} | {ms(r['stop_max_ms'])} | {start_ratio} | {stop_ratio} |")
    return "\n".join(out)


def wholerun_table(rows):
    by = {}
    for r in rows:
        by.setdefault(int(r["n"]), {})[r["mode"]] = r
    out = [
        "| tests | one server per test (`gtest_discover_tests` + `ForkServerEnv`) "
        "| one shared server (ctest fixture), one process per test "
        "| one process, one `ForkServerEnv` server, all tests "
        "| one process, a fresh clone per test (`Scope::kTest`, `BATCH BINARY`) "
        "| one server per test ÷ fresh clone per test |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sorted(by):
        cells = []
        for mode in ("per_process", "shared", "one_process", "per_test"):
            r = by[n].get(mode)
            if not r:
                cells.append("-")
                continue
            mark = "" if r["passed"] == "yes" else " (FAILED)"
            cells.append(f"{float(r['wall_s']):.2f} s = {float(r['wall_per_test_ms']):.1f} ms/test{mark}")
        speedup = "-"
        if "per_process" in by[n] and "per_test" in by[n]:
            ratio_value = (float(by[n]["per_process"]["wall_s"]) /
                           float(by[n]["per_test"]["wall_s"]))
            speedup = f"{ratio_value:.1f}×"
        out.append(f"| {n} | " + " | ".join(cells) + f" | {speedup} |")
    return "\n".join(out)


PROCESS_COST_WHAT = {
    "bare": "the one-test binary, no environment",
    "env": "the same binary with its ForkServerEnv (fork mode, TcpConnect); the test sends one GET",
    "env_idle": "the same, but the test does not use the server (no GET; compare with env, "
                "not with the floor)",
    "floor": "the same binary, no ForkServerEnv: its environment forks the small server by "
             "hand, reads the port from a pipe; the test sends one GET; SIGTERM, waitpid",
    "link_gtest": "a trivial GoogleTest binary",
    "link_core": "the same, linked with gtest_fork_env (no httplib)",
    "link_core_spdlog": "the same, also loading libspdlog and libfmt (as the core did before)",
    "link_httplib": "the same, linked with gtest_fork_env::httplib (Debian's cpp-httplib)",
}


def process_cost_table(rows):
    """The whole-binary rows of process_cost_bench (process_cost.csv)."""
    if not rows:
        return "(not measured)"
    phases = ["load", "init", "setup", "test", "gtest", "teardown", "exit", "total"]
    out = ["| row | what | runs | " + " | ".join(phases)
           + " | added | ÷ floor binary | paired ÷ floor binary | ÷ in-process floor |",
           "|---|---|---:|" + "---:|" * len(phases) + "---:|---:|---:|---:|"]
    for r in rows:
        row = r["row"]
        link = row.startswith("link_")
        cells = [("-" if link and p != "total" else f"{float(r[p + '_ms']):.2f}") for p in phases]
        added = float(r["added_ms"])
        base = row in ("bare", "link_gtest")
        env = not (base or link or row == "floor")
        by_binary = env and float(r.get("binary_ratio", 0) or 0) > 0
        binary = f"**{float(r['binary_ratio']):.2f}×**" if by_binary else ""
        pair_binary = f"{float(r['paired_binary_ratio']):.2f}×" if by_binary else ""
        ratio = "" if base or link else f"{float(r['ratio']):.2f}×"
        out.append(f"| `{row}` | {PROCESS_COST_WHAT.get(row, row)} | {r['runs']} | "
                   + " | ".join(cells) + f" | {'base' if base else f'{added:+.2f}'} | {binary} | "
                   + f"{pair_binary} | {ratio} |")
    floor = float(rows[0]["floor_ms"])
    out.append("")
    out.append(f"Floors, measured in the same run: the `floor` row (the same binary with the "
               f"fork written by hand in its environment: fork, port through a pipe, one GET, "
               f"SIGTERM, waitpid), and {floor:.2f} ms for those steps as in-process cycles "
               "(start + stop medians) in the benchmark's own warm process.")
    return "\n".join(out)


def process_cost_meta(meta):
    if not meta:
        return ""
    return (f"Measured {meta.get('date_utc', '?')} on the machine above; load average "
            f"{meta.get('load_before', '?')} before, {meta.get('load_after', '?')} after; "
            f"scheduling: {meta.get('scheduler', 'normal')}.")


def wrk_table(rows):
    out = [
        "| server logging | method | requests/s | requests | errors | p50 | p90 | p99 | max |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        config = ("default (an access-log line per request)" if r["config"] == "default"
                  else "SPDLOG_LEVEL=warn (no access log)")
        errors = int(r["errors"])
        out.append(f"| {config} | {r['method']} | {int(float(r['requests_per_s'])):,} "
                   f"| {int(r['requests']):,} | {errors} | {r['p50_ms']} ms | {r['p90_ms']} ms "
                   f"| {r['p99_ms']} ms | {r['max_ms']} ms |")
    return "\n".join(out)


def write_plot(results, lifecycle, wholerun, machine, clone=()):
    date = machine.get("date_utc", "?")
    cpu = machine.get("cpu", "?")
    cores = machine.get("cores", "?")
    with open(os.path.join(results, "lifecycle_plot.dat"), "w") as f:
        for i, r in enumerate(lifecycle):
            f.write(f"{i} {r['variant']} {r['start_p50_ms']} {r['start_p90_ms']} "
                    f"{r['stop_p50_ms']} {r['stop_p90_ms']}\n")
        # Per-test scope: start = a test's start to its GET answered (the
        # floors: fork to byte read); stop = EndUnit (Finish for scratch).
        for j, r in enumerate(clone):
            def cell(key):
                return "-" if r.get(key) is None else f"{r[key]:.3f}"
            f.write(f"{len(lifecycle) + j} kTest:{r['variant']} {cell('get_p50_ms')} "
                    f"{cell('get_p90_ms')} {cell('end_p50_ms')} {cell('end_p90_ms')}\n")
    by = {}
    for r in wholerun:
        by.setdefault(int(r["n"]), {})[r["mode"]] = r["wall_per_test_ms"]
    with open(os.path.join(results, "wholerun_plot.dat"), "w") as f:
        for n in sorted(by):
            f.write(f"{n} " + " ".join(by[n].get(m, "NaN") for m in
                                        ("per_process", "shared", "one_process", "per_test"))
                    + "\n")
    count = max(len(lifecycle) + len(clone), 1)
    script = f"""# Generated by bench/report.py; run it in this directory: gnuplot benchmarks.gp
set terminal pngcairo size 1500,640 font ",10" noenhanced
set output "benchmarks.png"
set multiplot layout 1,2 title "gtest_fork_env benchmarks, {date} ({cpu}, {cores} cores; other load: see RESULTS.md)"
set datafile missing "-"
set logscale y
set grid ytics
set ylabel "ms (point: median, bar: up to p90)"
set xrange [-0.7:{count - 0.3}]
set xtics rotate by -40 nomirror font ",8"
set key top left
set title "Start-to-ready and stop-to-reaped, per variant (kTest: a test's start to GET answered, and EndUnit)"
plot "lifecycle_plot.dat" using ($1-0.12):3:3:4:xtic(2) \\
       with yerrorbars pt 7 ps 0.8 lw 1.5 title "start (SetUp / fork .. ready)", \\
     "" using ($1+0.12):5:5:6 with yerrorbars pt 5 ps 0.8 lw 1.5 title "stop (TearDown / SIGTERM .. reaped)"
unset xrange
set xtics norotate font ",10"
set logscale x
set xrange [7:1500]
set xtics ("10" 10, "100" 100, "1000" 1000)
set key bottom left
set ylabel "wall time per test, ms (ctest -j2)"
set xlabel "tests in the suite"
set title "Whole run under ctest -j2"
plot "wholerun_plot.dat" using 1:2 with linespoints pt 7 lw 2 \\
       title "one server per test (discover + ForkServerEnv)", \\
     "" using 1:3 with linespoints pt 5 lw 2 title "one shared server, one process per test", \\
     "" using 1:4 with linespoints pt 9 lw 2 title "one process, one server, all tests", \\
     "" using 1:5 with linespoints pt 11 lw 2 title "one process, a fresh clone per test (Scope::kTest)"
unset multiplot
"""
    with open(os.path.join(results, "benchmarks.gp"), "w") as f:
        f.write(script)


def per_test_section(clone, clone_machine, main_date):
    """The lines of RESULTS.md about Scope::kTest (clone_bench)."""
    lines = [
        "The `per_test` column: the same tests in one process under `Scope::kTest` (ctest "
        "`BATCH BINARY`, so `-j2` has one test to run), each test against a fresh clone of the "
        "sample server's template; each test also checks that the key of the test before it "
        "is absent.",
        "",
    ]
    if "load_wholerun_start" in clone_machine and clone_machine is not None and \
            clone_machine.get("date_utc") != main_date:
        lines += [
            f"The 1000-test rows of per_test, per_process and shared are from a "
            f"`BENCH_ONLY=per_test` run of {clone_machine.get('date_utc', '?')} (load average "
            f"{clone_machine.get('load_wholerun_start', '?')} → "
            f"{clone_machine.get('load_wholerun_end', '?')}); the other rows are from the full "
            "run above, under other load: compare within a row's run only.",
            "",
        ]
    return lines + [
        "## Per-test scope (`Scope::kTest`): clone to ready, warm state (ms)",
        "",
        f"`bench/clone_bench.cc`, {clone[0]['runs'] if clone else 0} run(s) measured "
        f"{clone_machine.get('date_utc', '?')}, "
        f"scheduling: {clone_machine.get('clone_rt', '?')} (load average "
        f"{clone_machine.get('load_clone_start', '?')} → {clone_machine.get('load_clone_end', '?')}). "
        "Medians over each run's cycles; the median over runs, and in brackets the range over "
        "runs. Times from the test's start (`ServerInstance::Start`, as `ForkServerEnv` calls it "
        "when a test starts): ready = `Start()` returned; connect = the client's `connect()` "
        "returned (the kernel completes it on the listening socket the template keeps; only the "
        "clone accepts from it); GET answered = the clone answered one GET. End of test = "
        "`EndUnit()` (SIGTERM, reap, data directory removed). ref. = the floor's fork-to-byte "
        "(for warm_scratch_256m: warm_clone_256m, so its ratio is the warm clone's speed-up). "
        "whole test = GET answered + end of test. faults = minor page faults of the server "
        "process by the time it answered (of the floor's child: its whole life).",
        "",
        clone_table(clone),
        "",
        "Where a clone's time goes (medians, ms from the test's start; stamps written by the "
        "server into shared memory):",
        "",
        clone_phases_table(clone),
        "",
    ]


def main():
    results = sys.argv[1]
    machine = read_machine(os.path.join(results, "machine.txt"))
    lifecycle = read_csv(os.path.join(results, "lifecycle_summary.csv"))
    wholerun = read_csv(os.path.join(results, "wholerun.csv"))
    wrk = read_csv(os.path.join(results, "wrk.csv"))
    clone = clone_runs_summary(read_csv(os.path.join(results, "clone_runs.csv")))
    per_test_machine = read_machine(os.path.join(results, "machine_per_test.txt"))
    clone_machine = per_test_machine if "load_clone_start" in per_test_machine else machine
    write_plot(results, lifecycle, wholerun, machine, clone)

    def load1(key):
        try:
            return float(machine.get(key, "0").split()[0])
        except (ValueError, IndexError):
            return 0.0
    loads = [load1(k) for k in machine if k.startswith("load_")]
    busy = machine.get("compilers_running_before", "0") not in ("", "0") or \
        machine.get("compilers_running_after", "0") not in ("", "0") or \
        any(l > 1.5 for l in loads)
    lines = [
        "# gtest_fork_env benchmark results",
        "",
        f"Measured {machine.get('date_utc', '?')} by `bash bench/run.sh` on: "
        f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, "
        f"{machine.get('memory', '?')}, {machine.get('kernel', '?')}, {machine.get('os', '?')}, "
        f"{machine.get('compiler', '?')}; Release build.",
        "",
        "Load average (1, 5, 15 min) before: " + machine.get("load_before", "?") +
        "; during the lifecycle run: " + machine.get("load_lifecycle_start", "?") + " → " +
        machine.get("load_lifecycle_end", "?") + "; during the whole-run comparison: " +
        machine.get("load_wholerun_start", "?") + " → " + machine.get("load_wholerun_end", "?") +
        "; during wrk: " + machine.get("load_wrk_start", "?") + " → " +
        machine.get("load_wrk_end", "?") + ".",
        "",
    ]
    if busy:
        lines += [
            "**Caveat:** other work (builds and test runs of other users of this shared "
            "machine) was running during the measurement: see the load averages above "
            f"(cc1plus processes: {machine.get('compilers_running_before', '?')} at the start, "
            f"{machine.get('compilers_running_after', '?')} at the end; wrk itself loads both "
            "cores). Absolute figures and the tails (p99, max) are inflated by that; the "
            "variants' cycles are interleaved at random, so the load hits them alike and the "
            "ratios are less affected, but they still move by about ±0.2 from run to run.",
            "",
        ]
    lines += [
        "Absolute figures depend on the machine (this one is a 2-core VM where fork, "
        "copy-on-write faults and exec are slow); the ratios to the floor, measured side by "
        "side in the same run, are what travels.",
        "",
        "## Start-to-ready and stop-to-reaped (ms)",
        "",
        "Start: `SetUp()` entry to return for `ForkServerEnv`; fork to ready for the others. "
        "Stop: `TearDown()` entry to return; SIGTERM to `waitpid` return for the others. "
        "Every variant runs the same httplib server code (`bench/small_server.h`) and answers "
        "one GET before it is stopped. A start is compared with the time its floor took to "
        "reach the same proof of readiness (\"ready means\"). The naive variants run fewer "
        "cycles by design (each costs 0.1 to 1 s).",
        "",
        lifecycle_table(lifecycle),
        "",
        "## Whole run under `ctest -j2`",
        "",
        "The same N small integration tests of the sample server (each PUTs its own key and "
        "GETs it back, `bench/wholerun/`), wall time of the whole `ctest -j2` run (ctest's own "
        "start included) divided by N; the median of 3 runs for 10 and 100 tests (the three "
        "ways take turns), one run for 1000 unless `BENCH_WHOLERUN_ROUNDS_1000` asked for more "
        "(`wholerun.csv` has the rounds of each row, `wholerun_runs.csv` every run).",
        "",
        wholerun_table(wholerun),
        "",
        *per_test_section(clone, clone_machine, machine.get("date_utc")),
        "## What a test process pays (whole test binaries)",
        "",
        "`bench/process_cost_bench.cc`: the same trivial one-test binary run whole, without and "
        "with its `ForkServerEnv`, in alternating order; medians in ms. Phases from the "
        "binary's own steady-clock marks: load (spawn to main), init (main to SetUp), setup, "
        "test, gtest (between them), teardown, exit (last TearDown to reaped). added = median "
        "total minus the base row's; the environment's added time is compared with what the "
        "floor binary adds (the way a user sees it) and with in-process floor cycles. "
        "The link rows time four trivial binaries that differ only in what they link. "
        "Breakdown and what was tried: `docs/benchmarks.md`.",
        "",
        process_cost_meta(read_machine(os.path.join(results, "process_cost_meta.txt"))),
        "",
        process_cost_table(read_csv(os.path.join(results, "process_cost.csv"))),
        "",
        "## The sample server under wrk (loopback, 2 threads, 16 connections)",
        "",
        "`sample_server` as a program, in-memory store; GET of one 5-byte value, PUT of a "
        "256-byte value to 1000 keys in turn. wrk runs on the same 2 cores as the server.",
        "",
        wrk_table(wrk),
        "",
        "## Plot",
        "",
        "![benchmarks](benchmarks.png)",
        "",
    ]
    with open(os.path.join(results, "RESULTS.md"), "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
