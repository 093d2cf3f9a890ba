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
        "| one process, one `ForkServerEnv` server, all tests |",
        "|---:|---:|---:|---:|",
    ]
    for n in sorted(by):
        cells = []
        for mode in ("per_process", "shared", "one_process"):
            r = by[n].get(mode)
            if not r:
                cells.append("-")
                continue
            mark = "" if r["passed"] == "yes" else " (FAILED)"
            cells.append(f"{float(r['wall_s']):.2f} s = {float(r['wall_per_test_ms']):.1f} ms/test{mark}")
        out.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(out)


PROCESS_COST_WHAT = {
    "bare": "the one-test binary, no environment",
    "env": "the same binary with its ForkServerEnv (fork mode, TcpConnect); the test sends one GET",
    "env_idle": "the same, but the test does not use the server (no GET; compare with env, "
                "not with the floor)",
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
           + " | added | added ÷ floor | paired added | paired ÷ floor |",
           "|---|---|---:|" + "---:|" * len(phases) + "---:|---:|---:|---:|"]
    for r in rows:
        row = r["row"]
        link = row.startswith("link_")
        cells = [("-" if link and p != "total" else f"{float(r[p + '_ms']):.2f}") for p in phases]
        added = float(r["added_ms"])
        base = row in ("bare", "link_gtest")
        ratio = "" if base or link else f"**{float(r['ratio']):.2f}×**"
        pair = "" if base else f"{float(r['paired_added_ms']):+.2f}"
        pair_ratio = "" if base or link else f"{float(r['paired_ratio']):.2f}×"
        out.append(f"| `{row}` | {PROCESS_COST_WHAT.get(row, row)} | {r['runs']} | "
                   + " | ".join(cells) + f" | {'base' if base else f'{added:+.2f}'} | {ratio} | "
                   + f"{pair} | {pair_ratio} |")
    floor = float(rows[0]["floor_ms"])
    out.append("")
    out.append(f"Floor, measured in the same run: {floor:.2f} ms (start + stop medians of "
               "in-process fork cycles: fork, port through a pipe, one GET, SIGTERM, waitpid).")
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


def write_plot(results, lifecycle, wholerun, machine):
    date = machine.get("date_utc", "?")
    cpu = machine.get("cpu", "?")
    cores = machine.get("cores", "?")
    with open(os.path.join(results, "lifecycle_plot.dat"), "w") as f:
        for i, r in enumerate(lifecycle):
            f.write(f"{i} {r['variant']} {r['start_p50_ms']} {r['start_p90_ms']} "
                    f"{r['stop_p50_ms']} {r['stop_p90_ms']}\n")
    by = {}
    for r in wholerun:
        by.setdefault(int(r["n"]), {})[r["mode"]] = r["wall_per_test_ms"]
    with open(os.path.join(results, "wholerun_plot.dat"), "w") as f:
        for n in sorted(by):
            f.write(f"{n} " + " ".join(by[n].get(m, "NaN") for m in
                                        ("per_process", "shared", "one_process")) + "\n")
    count = max(len(lifecycle), 1)
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
set title "Start-to-ready and stop-to-reaped, per variant"
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
     "" using 1:4 with linespoints pt 9 lw 2 title "one process, one server, all tests"
unset multiplot
"""
    with open(os.path.join(results, "benchmarks.gp"), "w") as f:
        f.write(script)


def main():
    results = sys.argv[1]
    machine = read_machine(os.path.join(results, "machine.txt"))
    lifecycle = read_csv(os.path.join(results, "lifecycle_summary.csv"))
    wholerun = read_csv(os.path.join(results, "wholerun.csv"))
    wrk = read_csv(os.path.join(results, "wrk.csv"))
    write_plot(results, lifecycle, wholerun, machine)

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
        "ways take turns), one run for 1000.",
        "",
        wholerun_table(wholerun),
        "",
        "## What a test process pays (whole test binaries)",
        "",
        "`bench/process_cost_bench.cc`: the same trivial one-test binary run whole, without and "
        "with its `ForkServerEnv`, in alternating order; medians in ms. Phases from the "
        "binary's own steady-clock marks: load (spawn to main), init (main to SetUp), setup, "
        "test, gtest (between them), teardown, exit (last TearDown to reaped). added = median "
        "total minus the base row's; the environment's added time is compared with the floor. "
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
