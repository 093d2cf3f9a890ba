// What a test process pays for the environment, measured the way a user pays
// it under gtest_discover_tests: whole runs of the same trivial one-test
// binary (process_cost/process_cost_test.cc) without the environment
// ("bare") and with it ("env", and any other --modes), spawned in alternating
// order, medians; against two floors measured in the same run, both doing
// the steps of bench/floor.h by hand (fork, bind any port, report it through
// a pipe, one GET, SIGTERM, waitpid):
// - the floor binary: the same test binary in "floor" mode, whose
//   environment does those steps itself, run whole like the others. This is
//   what a user sees: the whole binary with the library against the whole
//   binary with the hand-written fork.
//     binary ratio = (median env run - median bare run)
//                    / (median floor run - median bare run)
// - in-process cycles of those steps in this benchmark's own warm process:
//     ratio = (median env run - median bare run) / (median start + stop)
//   A warm process pays no first-time costs and a loaded machine slows its
//   short cycles more than a whole binary: on 2026-12-02, at a load average
//   of 7, this floor came out 4 to 5 times its quiet value and the ratio
//   1.22, against 1.7 to 1.9 at a load of 1.
// Each ratio also comes as the median of the per-round differences (env
// run - bare run of the same round), less sensitive to a load that changes
// during the run.
//
// Each run's phases come from the steady-clock marks the test binary writes
// (PROCESS_COST_TIMES): load (spawn to main), init (main to the first
// SetUp), setup, test, gtest (between them), teardown, exit (last TearDown
// to reaped). The link rows time four trivial binaries that differ only in
// what they link: GoogleTest alone, the core library, the core library with
// spdlog (as the core was before it dropped spdlog), the httplib adapter.
//
// Flags: --runs=N (runs of each binary, default 40), --floor_cycles=N
// (default 200), --modes=env[,...] (default env,floor; "<mode>:<NAME>=<value>"
// runs that mode with that variable set, for experiments; "<mode>@<binary>" runs
// it in another build of process_cost_test, so that two versions of the
// library are compared round by round), --out_dir=DIR
// (default .), --test_binary=PATH (another build of process_cost_test, e.g.
// of an older version of the library, to compare in the same conditions).

#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "floor.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

const char* const kPhases[] = {"load", "init", "setup", "test", "gtest", "teardown", "exit",
                               "total"};
constexpr int kPhaseCount = 8;

struct Run {
  std::string row;
  int index;
  double ms[kPhaseCount];
};

long long NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// Runs `binary` once with PROCESS_COST_MODE=`mode` (empty: not set), output
// to /dev/null, and fills the phases of `run`. False when it did not exit 0.
bool SpawnOnce(const std::string& binary, const std::string& mode, const std::string& marks,
               Run* run) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    if (std::strncmp(*e, "PROCESS_COST_", 13) != 0) env.emplace_back(*e);
  }
  if (!mode.empty()) {
    // "<mode>:<NAME>=<value>" also sets that variable (an experiment's switch).
    const std::string plain = mode.substr(0, mode.find('@'));
    const size_t colon = plain.find(':');
    env.push_back("PROCESS_COST_MODE=" + plain.substr(0, colon));
    if (colon != std::string::npos) env.push_back(plain.substr(colon + 1));
    env.push_back("PROCESS_COST_TIMES=" + marks);
  }
  std::vector<char*> envp, argv = {const_cast<char*>(binary.c_str()), nullptr};
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  unlink(marks.c_str());
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const long long t0 = NowNs();
  const int error = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) return false;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const long long t1 = NowNs();
  std::fill(run->ms, run->ms + kPhaseCount, 0.0);
  run->ms[7] = static_cast<double>(t1 - t0) / 1e6;
  long long m[7] = {};
  std::ifstream in(marks);
  if (!mode.empty() && in >> m[0] >> m[1] >> m[2] >> m[3] >> m[4] >> m[5] >> m[6]) {
    run->ms[0] = static_cast<double>(m[0] - t0) / 1e6;
    run->ms[1] = static_cast<double>(m[1] - m[0]) / 1e6;
    run->ms[2] = static_cast<double>(m[2] - m[1]) / 1e6;
    run->ms[3] = static_cast<double>(m[4] - m[3]) / 1e6;
    run->ms[4] = static_cast<double>((m[3] - m[2]) + (m[5] - m[4])) / 1e6;
    run->ms[5] = static_cast<double>(m[6] - m[5]) / 1e6;
    run->ms[6] = static_cast<double>(t1 - m[6]) / 1e6;
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::vector<std::string> Split(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

struct Config {
  int runs = 40;
  int floor_cycles = 200;
  std::vector<std::string> modes = {"env", "floor"};
  std::string out_dir = ".";
  std::string test_binary = PROCESS_COST_TEST;
};

Config ParseFlags(int argc, char** argv) {
  Config config;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char* flag) {
      return arg.rfind(flag, 0) == 0 ? arg.substr(std::strlen(flag)) : std::string();
    };
    if (!value("--runs=").empty()) config.runs = std::max(3, std::atoi(value("--runs=").c_str()));
    else if (!value("--floor_cycles=").empty())
      config.floor_cycles = std::max(10, std::atoi(value("--floor_cycles=").c_str()));
    else if (!value("--modes=").empty()) config.modes = Split(value("--modes="));
    else if (!value("--out_dir=").empty()) config.out_dir = value("--out_dir=");
    else if (!value("--test_binary=").empty()) config.test_binary = value("--test_binary=");
    else {
      std::fprintf(stderr, "process_cost_bench: unknown flag %s\n", arg.c_str());
      std::exit(64);
    }
  }
  return config;
}

// The rows of one round, bare and the modes first, in an order that
// alternates from round to round, then the link rows.
std::vector<std::pair<std::string, std::string>> RoundRows(const Config& config, int round) {
  std::vector<std::pair<std::string, std::string>> rows = {{"bare", config.test_binary}};
  for (const std::string& mode : config.modes) {
    const size_t at = mode.find('@');
    rows.push_back({mode, at == std::string::npos ? config.test_binary : mode.substr(at + 1)});
  }
  if (round % 2) std::reverse(rows.begin(), rows.end());
  std::vector<std::pair<std::string, std::string>> links = {
      {"link_gtest", LINK_COST_GTEST}, {"link_core", LINK_COST_CORE},
      {"link_core_spdlog", LINK_COST_CORE_SPDLOG}, {"link_httplib", LINK_COST_HTTPLIB}};
  std::rotate(links.begin(), links.begin() + round % 4, links.end());
  rows.insert(rows.end(), links.begin(), links.end());
  return rows;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

std::string UtcNow() {
  char text[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return text;
}

// Every run of every row, and the floor's cycles, round after round.
struct Measured {
  std::vector<Run> runs;
  std::vector<double> floor_start, floor_stop;
};

bool Measure(const Config& config, Measured* out) {
  const std::string marks = config.out_dir + "/process_cost_marks.tmp";
  const int floors_per_round = std::max(1, config.floor_cycles / config.runs);
  for (int round = 0; round < config.runs; ++round) {
    for (const auto& [row, binary] : RoundRows(config, round)) {
      Run run{row, round, {}};
      const bool link_row = row.rfind("link_", 0) == 0;
      if (!SpawnOnce(binary, link_row ? "" : row, marks, &run)) {
        std::fprintf(stderr, "process_cost_bench: %s (%s) did not pass\n", binary.c_str(),
                     row.c_str());
        return false;
      }
      out->runs.push_back(run);
    }
    for (int i = 0; i < floors_per_round; ++i) {
      long long start_ns = 0, stop_ns = 0;
      if (!bench::FloorForkCycle(&start_ns, &stop_ns)) {
        std::fprintf(stderr, "process_cost_bench: a floor cycle failed\n");
        return false;
      }
      out->floor_start.push_back(static_cast<double>(start_ns) / 1e6);
      out->floor_stop.push_back(static_cast<double>(stop_ns) / 1e6);
    }
  }
  unlink(marks.c_str());
  return true;
}

// Phase values of each row, in the order the rows first ran; writes every
// run to process_cost_runs.csv on the way.
struct Grouped {
  std::map<std::string, std::vector<std::vector<double>>> by_row;  // row -> phase -> values
  std::vector<std::string> order;
};

Grouped Group(const std::vector<Run>& runs, const std::string& out_dir) {
  Grouped grouped;
  std::ofstream all(out_dir + "/process_cost_runs.csv");
  all << "row,round";
  for (const char* phase : kPhases) all << ',' << phase << "_ms";
  all << '\n';
  for (const Run& run : runs) {
    all << run.row << ',' << run.index;
    for (double ms : run.ms) all << ',' << ms;
    all << '\n';
    auto& phases = grouped.by_row[run.row];
    if (phases.empty()) {
      phases.resize(kPhaseCount);
      grouped.order.push_back(run.row);
    }
    for (int p = 0; p < kPhaseCount; ++p) phases[p].push_back(run.ms[p]);
  }
  return grouped;
}

// The median of the per-round differences of totals: less sensitive to a
// change of the machine's load during the run than the difference of medians.
double PairedDifference(Grouped& grouped, const std::string& row, const std::string& base) {
  std::vector<double> differences;
  const auto& a = grouped.by_row[row][7];
  const auto& b = grouped.by_row[base][7];
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) differences.push_back(a[i] - b[i]);
  return Median(differences);
}

// What the hand-written floor adds as a whole binary ("floor" mode of the
// test binary, the outside way): median total minus bare's, and the
// median of the per-round differences. Zero when the floor row did not run.
struct FloorBinary {
  double added = 0, paired = 0;
};

FloorBinary MeasureFloorBinary(Grouped& grouped) {
  if (!grouped.by_row.count("floor")) return {};
  return {Median(grouped.by_row["floor"][7]) - Median(grouped.by_row["bare"][7]),
          PairedDifference(grouped, "floor", "bare")};
}

// Prints the table and writes process_cost.csv. A row's added time is
// compared with both floors: in-process cycles (ratio) and the floor binary
// (binary ratio, what a user running the binary sees).
void Report(Grouped& grouped, double floor_ms, const std::string& out_dir) {
  auto median_of = [&](const std::string& row, int p) { return Median(grouped.by_row[row][p]); };
  const FloorBinary floor_binary = MeasureFloorBinary(grouped);
  std::ofstream csv(out_dir + "/process_cost.csv");
  csv << "row,runs";
  for (const char* phase : kPhases) csv << ',' << phase << "_ms";
  csv << ",added_ms,floor_ms,ratio,paired_added_ms,paired_ratio,floor_binary_added_ms,"
         "binary_ratio,paired_binary_ratio\n";
  std::printf("%-17s", "row");
  for (const char* phase : kPhases) std::printf(" %8s", phase);
  std::printf(" %9s %7s %9s %7s %7s %7s\n", "added", "ratio", "paired", "ratio", "xbin", "pxbin");
  for (const std::string& row : grouped.order) {
    const bool link_row = row.rfind("link_", 0) == 0;
    const std::string base = link_row ? "link_gtest" : "bare";
    const bool compared = row != base;
    const bool env_row = compared && !link_row && row != "floor";
    const double added = compared ? median_of(row, 7) - median_of(base, 7) : 0;
    const double pair = compared ? PairedDifference(grouped, row, base) : 0;
    const double ratio = compared && !link_row ? added / floor_ms : 0;
    const double pair_ratio = compared && !link_row ? pair / floor_ms : 0;
    const bool by_binary = env_row && floor_binary.added > 0 && floor_binary.paired > 0;
    const double binary_ratio = by_binary ? added / floor_binary.added : 0;
    const double pair_binary_ratio = by_binary ? pair / floor_binary.paired : 0;
    csv << row << ',' << grouped.by_row[row][7].size();
    std::printf("%-17s", row.c_str());
    for (int p = 0; p < kPhaseCount; ++p) {
      csv << ',' << median_of(row, p);
      std::printf(" %8.3f", median_of(row, p));
    }
    csv << ',' << added << ',' << floor_ms << ',' << ratio << ',' << pair << ',' << pair_ratio
        << ',' << floor_binary.added << ',' << binary_ratio << ',' << pair_binary_ratio << '\n';
    if (!compared) std::printf(" %9s\n", "base");
    else if (link_row) std::printf(" %+9.3f %7s %+9.3f\n", added, "", pair);
    else if (!by_binary)
      std::printf(" %+9.3f %6.2fx %+9.3f %6.2fx\n", added, ratio, pair, pair_ratio);
    else std::printf(" %+9.3f %6.2fx %+9.3f %6.2fx %6.2fx %6.2fx\n", added, ratio, pair,
                     pair_ratio, binary_ratio, pair_binary_ratio);
  }
  std::printf("added = median total - median total of its base (bare, or link_gtest); "
              "paired = median of the per-round differences; ratio = added / in-process floor; "
              "xbin, pxbin = added, paired / what the floor binary adds (the floor row)\n");
}

}  // namespace

int main(int argc, char** argv) {
  const Config config = ParseFlags(argc, argv);
  const std::string started = UtcNow(), load_before = LoadAverage();
  Measured measured;
  if (!Measure(config, &measured)) return 1;
  Grouped grouped = Group(measured.runs, config.out_dir);
  const double start = Median(measured.floor_start), stop = Median(measured.floor_stop);
  std::printf("\nWhole test binaries, %d runs of each (medians, ms); floor: %zu in-process "
              "cycles, start %.3f + stop %.3f = %.3f ms\n",
              config.runs, measured.floor_start.size(), start, stop, start + stop);
  Report(grouped, start + stop, config.out_dir);
  std::ofstream meta(config.out_dir + "/process_cost_meta.txt");
  meta << "date_utc=" << started << "\nload_before=" << load_before
       << "\nload_after=" << LoadAverage() << "\nruns=" << config.runs << "\nscheduler="
       << (sched_getscheduler(0) == SCHED_FIFO ? "SCHED_FIFO (chrt -f)" : "normal") << "\n";
  return 0;
}
