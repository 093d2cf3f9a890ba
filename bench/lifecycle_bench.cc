// Start-to-ready and stop-to-reaped of one small httplib server, measured
// side by side in one run:
//
//   env_*        gtest_fork_env::ForkServerEnv: SetUp() entry to return, and
//                TearDown() entry to return, called directly in a loop.
//   floor_fork   the least a program can do: fork; the child binds any port,
//                reports it through a pipe and serves; the parent reads the
//                port and does one HTTP GET (ready); then SIGTERM + waitpid.
//   floor_exec   the same with fork + exec of bench_server.
//   floor_reexec the same with fork + exec of this binary (/proc/self/exe),
//                the floor of SpawnMode::kReexec.
//   naive_fork   fixed port, connect (GET) retried every 100 ms, SIGTERM,
//                waitpid.
//   sleep1s_fork fixed port, a fixed 1 s sleep, GET, SIGTERM, waitpid.
//   env_fork_tls*   Options::tls: the same server as httplib::SSLServer, made
//                ready by a verified TLS handshake (or an HTTPS GET); compared
//                with the plain env_fork_tcp (env_fork_http) of the same run.
//   tls_material making a CA, a server and a client certificate (P-256) into
//                a fresh directory: the once-per-binary cost of Options::tls.
//
// Every variant runs the same server code (small_server.h) and answers one
// GET /hello before it is stopped: for the env_* variants that GET comes
// right after SetUp returns and is timed in neither figure.
//
// Cycles of all variants are interleaved (Google Benchmark's random
// interleaving of repetitions), so background load on a shared machine hits
// them alike and the ratios stay meaningful. At the end the program prints a
// table over all cycles of each variant (median, p90, p99, max) with ratios
// to the variant's floor, and writes it as CSV and the raw samples as CSV.
//
// Own flags (before Google Benchmark's): --out_dir=DIR (default: .),
// --cycles=N (fast variants, default 400; the naive variant gets N/20, at
// least 20, and the fixed 1 s sleep N/80, at least 5).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>
#include <gtest/gtest.h>
#include <gtest_fork_env/fork_server_env.h>
#include <gtest_fork_env/httplib_client.h>
#include <gtest_fork_env/httplib_server.h>

#include "small_server.h"
#include "tls_material.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
using gtest_fork_env::ForkServerEnv;
using gtest_fork_env::Options;
using gtest_fork_env::Probe;
using gtest_fork_env::SpawnMode;

constexpr const char* kFloorServeVariable = "BENCH_FLOOR_SERVE_FD";
constexpr const char* kLibraryServeVariable = "GTEST_FORK_ENV_INTERNAL_SERVE";

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

// ---------------------------------------------------------------- samples

// What a start proves, and so which phase of the floor it is compared with:
// the port is known (Probe::None in fork mode), a TCP connection was
// accepted (Probe::TcpConnect), a GET was answered (Probe::HttpGet, and the
// floors' own end of start). kNothing: no readiness at all (Probe::None in
// exec mode), no ratio.
enum class Proof { kPort, kConnect, kGet, kNothing };

const char* ProofName(Proof proof) {
  switch (proof) {
    case Proof::kPort: return "port";
    case Proof::kConnect: return "connect";
    case Proof::kGet: return "get";
    case Proof::kNothing: return "none";
  }
  return "?";
}

struct Variant {
  std::string name;
  std::string floor;  // the variant it is compared with; "" for floors
  Proof proof = Proof::kGet;
  std::string note;
  std::vector<double> start_us, stop_us;
  // Floors only: when the port was read and when the connection was accepted
  // (start_us is when the GET was answered).
  std::vector<double> port_us, connect_us;
  long verify_retries = 0;  // refused GETs after SetUp returned (Probe::None)
};

std::vector<Variant>& Variants() {
  static std::vector<Variant> variants;
  return variants;
}

Variant& VariantNamed(const std::string& name) {
  for (Variant& v : Variants()) {
    if (v.name == name) return v;
  }
  std::fprintf(stderr, "no variant %s\n", name.c_str());
  std::abort();
}

// Nearest-rank percentile of sorted values.
double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return NAN;
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

struct Summary {
  double p50, p90, p99, max;
};

Summary Summarize(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return {Percentile(values, 50), Percentile(values, 90), Percentile(values, 99),
          values.empty() ? NAN : values.back()};
}

// --------------------------------------------------------- client and floor

// One "GET /hello" on a fresh connection with "Connection: close", read to
// the end. True when the answer is 200 "hello". `refused` tells whether the
// connection was refused (nobody listening yet).
bool GetHello(uint16_t port, bool* refused = nullptr, Clock::time_point* connected = nullptr) {
  if (refused) *refused = false;
  int sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return false;
  struct timeval limit = {5, 0};  // bounded: a broken server fails the cycle
  setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(sock, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    if (refused) *refused = errno == ECONNREFUSED;
    close(sock);
    return false;
  }
  if (connected) *connected = Clock::now();
  static const char kRequest[] =
      "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (send(sock, kRequest, sizeof kRequest - 1, MSG_NOSIGNAL) !=
      static_cast<ssize_t>(sizeof kRequest - 1)) {
    close(sock);
    return false;
  }
  std::string response;
  char buffer[1024];
  for (;;) {
    ssize_t got = recv(sock, buffer, sizeof buffer, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    response.append(buffer, static_cast<size_t>(got));
    if (response.size() > 8192) break;
  }
  close(sock);
  return response.compare(0, 12, "HTTP/1.1 200") == 0 && response.size() >= 5 &&
         response.compare(response.size() - 5, 5, "hello") == 0;
}

// Reads "<port>\n" from `fd` until end-of-file; 0 when there is none.
uint16_t ReadPort(int fd) {
  char buffer[16];
  size_t filled = 0;
  while (filled < sizeof buffer - 1) {
    ssize_t got = read(fd, buffer + filled, sizeof buffer - 1 - filled);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    filled += static_cast<size_t>(got);
    if (std::memchr(buffer, '\n', filled)) break;
  }
  buffer[filled] = '\0';
  long port = std::strtol(buffer, nullptr, 10);
  return port > 0 && port < 65536 ? static_cast<uint16_t>(port) : 0;
}

int WaitFor(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

std::string g_server_program = BENCH_SERVER_PATH;
std::vector<std::string> g_own_argv;
uint16_t g_fixed_port = 0;

// How the floors make their child.
enum class FloorKind { kFork, kExec, kReexec };

struct Phases {
  double port_us = 0, connect_us = 0;
};

// One floor cycle: start = fork .. GET answered (with the times at which the
// port was read and the connection accepted); stop = SIGTERM .. waitpid.
bool FloorCycle(FloorKind kind, double* start_us, double* stop_us, Phases* phases) {
  // argv and envp before the fork, as any careful exec does.
  std::vector<std::string> args;
  std::vector<std::string> env;
  if (kind == FloorKind::kExec) {
    args = {g_server_program, "--host", "127.0.0.1", "--port", "0", "--port-fd", "3"};
  } else if (kind == FloorKind::kReexec) {
    args = g_own_argv;
    for (char** e = environ; *e; ++e) env.emplace_back(*e);
    env.push_back(std::string(kFloorServeVariable) + "=3");
  }
  std::vector<char*> argv_ptrs, envp_ptrs;
  for (auto& a : args) argv_ptrs.push_back(a.data());
  argv_ptrs.push_back(nullptr);
  for (auto& e : env) envp_ptrs.push_back(e.data());
  envp_ptrs.push_back(nullptr);

  const auto t0 = Clock::now();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    close(fds[0]);
    if (kind == FloorKind::kFork) _exit(bench::ServeSmall("127.0.0.1", 0, fds[1]));
    if (fds[1] == 3) {
      fcntl(3, F_SETFD, 0);
    } else {
      dup2(fds[1], 3);  // the copy at 3 is not close-on-exec
    }
    if (kind == FloorKind::kExec) {
      execv(argv_ptrs[0], argv_ptrs.data());
    } else {
      execve("/proc/self/exe", argv_ptrs.data(), envp_ptrs.data());
    }
    _exit(127);
  }
  close(fds[1]);
  const uint16_t port = ReadPort(fds[0]);
  const auto t_port = Clock::now();
  close(fds[0]);
  Clock::time_point t_connect = t_port;
  const bool ok = port != 0 && GetHello(port, nullptr, &t_connect);
  const auto t1 = Clock::now();
  phases->port_us = Micros(t_port - t0);
  phases->connect_us = Micros(t_connect - t0);
  kill(pid, SIGTERM);
  const int status = WaitFor(pid);
  const auto t2 = Clock::now();
  *start_us = Micros(t1 - t0);
  *stop_us = Micros(t2 - t1);
  return ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// The naive way and the fixed sleep: fixed port, then either a GET retried
// every 100 ms or one GET after 1 s; SIGTERM, waitpid.
bool NaiveCycle(bool fixed_sleep, double* start_us, double* stop_us) {
  const auto t0 = Clock::now();
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) _exit(bench::ServeSmall("127.0.0.1", g_fixed_port, -1));
  bool ok = false;
  if (fixed_sleep) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    ok = GetHello(g_fixed_port);
  } else {
    for (int attempt = 0; attempt < 100 && !ok; ++attempt) {  // bounded: 10 s
      ok = GetHello(g_fixed_port);
      if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  const auto t1 = Clock::now();
  kill(pid, SIGTERM);
  const int status = WaitFor(pid);
  const auto t2 = Clock::now();
  *start_us = Micros(t1 - t0);
  *stop_us = Micros(t2 - t1);
  return ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// ----------------------------------------------------------- the library

int ServeSmallEnv(gtest_fork_env::ServerContext& context) {
  httplib::Server server;
  bench::ConfigureSmallServer(server);
  return gtest_fork_env::ServeHttplib(server, context);
}

// The same server over TLS (Options::tls).
int ServeSmallTlsEnv(gtest_fork_env::ServerContext& context) {
  httplib::SSLServer server(context.tls_cert_path().c_str(), context.tls_key_path().c_str());
  bench::ConfigureSmallServer(server);
  return gtest_fork_env::ServeHttplib(server, context);
}

// tls_material samples (ms), and the first call in this process, which also
// loads libssl and libcrypto.
std::vector<double> g_tls_material_us;
double g_tls_first_us = NAN;

bool TlsMaterialCycle(double* make_us) {
  char dir[] = "/tmp/bench-tls-XXXXXX";
  if (!mkdtemp(dir)) return false;
  const auto t0 = Clock::now();
  const std::string error = gtest_fork_env::detail::MakeTlsMaterial(dir, {}, true);
  *make_us = Micros(Clock::now() - t0);
  gtest_fork_env::detail::RemoveTlsDirectory(dir);
  return error.empty();
}

struct EnvSpec {
  std::string variant;
  std::string floor;
  Proof proof;
  std::string note;
  SpawnMode mode;
  Probe probe;
  bool exec;
  bool tls = false;
};

std::vector<EnvSpec> EnvSpecs() {
  std::vector<EnvSpec> specs = {
      {"env_fork_tcp", "floor_fork", Proof::kConnect, "Probe::TcpConnect (default)", SpawnMode::kFork,
       Probe::TcpConnect(), false},
      {"env_fork_http", "floor_fork", Proof::kGet, "Probe::HttpGet(\"/hello\")", SpawnMode::kFork,
       Probe::HttpGet("/hello"), false},
      {"env_fork_none", "floor_fork", Proof::kPort, "Probe::None (port reported)", SpawnMode::kFork,
       Probe::None(), false},
      {"env_reexec_tcp", "floor_reexec", Proof::kConnect, "SpawnMode::kReexec, Probe::TcpConnect",
       SpawnMode::kReexec, Probe::TcpConnect(), false},
      {"env_fork_tls", "env_fork_tcp", Proof::kConnect,
       "Options::tls, TLS handshake verified (vs plain env_fork_tcp)", SpawnMode::kFork,
       Probe::TcpConnect(), false, true},
      {"env_fork_tls_http", "env_fork_http", Proof::kGet,
       "Options::tls, Probe::HttpGet over HTTPS (vs plain env_fork_http)", SpawnMode::kFork,
       Probe::HttpGet("/hello"), false, true},
  };
#ifdef BENCH_HAVE_EXEC
  specs.push_back({"env_exec_tcp", "floor_exec", Proof::kConnect, "Exec, Probe::TcpConnect", SpawnMode::kAuto,
                   Probe::TcpConnect(), true});
  specs.push_back({"env_exec_http", "floor_exec", Proof::kGet, "Exec, Probe::HttpGet(\"/hello\")",
                   SpawnMode::kAuto, Probe::HttpGet("/hello"), true});
  specs.push_back({"env_exec_none", "floor_exec", Proof::kNothing,
                   "Exec, Probe::None: returns before the program listens", SpawnMode::kAuto,
                   Probe::None(), true});
#endif
  return specs;
}

// Made in the same order in the parent and in a re-executed copy, as
// SpawnMode::kReexec requires.
std::vector<std::unique_ptr<ForkServerEnv>>& Envs() {
  static std::vector<std::unique_ptr<ForkServerEnv>> envs;
  return envs;
}

void MakeEnvs() {
  for (const EnvSpec& spec : EnvSpecs()) {
    Options options;
    options.name = "bench-" + spec.variant;
    options.probe = spec.probe;
    options.spawn_mode = spec.mode;
    options.tls = spec.tls;
    if (spec.exec) {
#ifdef BENCH_HAVE_EXEC
      Envs().emplace_back(ForkServerEnv::Exec(
          {g_server_program, "--host", "{host}", "--port", "{port}"}, options));
#endif
    } else {
      Envs().emplace_back(new ForkServerEnv(spec.tls ? ServeSmallTlsEnv : ServeSmallEnv, options));
    }
  }
}

bool EnvCycle(ForkServerEnv& env, Variant& variant, double* start_us, double* stop_us) {
  const auto t0 = Clock::now();
  env.SetUp();
  const auto t1 = Clock::now();
  bool ok = env.port() != 0;
  if (ok && env.options().tls) {
    auto answer = gtest_fork_env::MakeHttplibClient(env).Get("/hello");
    ok = answer && answer->status == 200;
  } else if (ok) {
    // Probe::None in exec mode returns before the program listens: retry a
    // refused connection (bounded), and count it.
    bool refused = false;
    ok = GetHello(env.port(), &refused);
    for (int i = 0; !ok && refused && i < 20000; ++i) {
      ++variant.verify_retries;
      std::this_thread::sleep_for(std::chrono::microseconds(250));
      ok = GetHello(env.port(), &refused);
    }
  }
  const auto t2 = Clock::now();
  env.TearDown();
  const auto t3 = Clock::now();
  *start_us = Micros(t1 - t0);
  *stop_us = Micros(t3 - t2);
  return ok && !::testing::UnitTest::GetInstance()->Failed();
}

// ------------------------------------------------------ Google Benchmark

void SetCounters(benchmark::State& state, const std::vector<double>& start,
                 const std::vector<double>& stop) {
  Summary a = Summarize(start), b = Summarize(stop);
  state.counters["start_p50_us"] = a.p50;
  state.counters["start_p90_us"] = a.p90;
  state.counters["start_p99_us"] = a.p99;
  state.counters["start_max_us"] = a.max;
  state.counters["stop_p50_us"] = b.p50;
  state.counters["stop_p90_us"] = b.p90;
  state.counters["stop_p99_us"] = b.p99;
  state.counters["stop_max_us"] = b.max;
}

template <typename CycleFn>
void RunCycles(benchmark::State& state, Variant& variant, CycleFn cycle) {
  std::vector<double> start, stop;
  for (auto _ : state) {
    double start_us = 0, stop_us = 0;
    Phases phases;
    if (!cycle(&start_us, &stop_us, &phases)) {
      state.SkipWithError(("cycle failed: " + variant.name).c_str());
      break;
    }
    start.push_back(start_us);
    stop.push_back(stop_us);
    if (variant.floor.empty()) {
      variant.port_us.push_back(phases.port_us);
      variant.connect_us.push_back(phases.connect_us);
    }
    state.SetIterationTime((start_us + stop_us) / 1e6);
  }
  variant.start_us.insert(variant.start_us.end(), start.begin(), start.end());
  variant.stop_us.insert(variant.stop_us.end(), stop.begin(), stop.end());
  SetCounters(state, start, stop);
}

void RegisterAll(int cycles) {
  // Spread each variant's cycles over repetitions that Google Benchmark
  // interleaves at random with the other variants' repetitions.
  const int repetitions = 8;
  const int fast = std::max(1, cycles / repetitions);
  // At least 20 naive cycles (about 0.1 s each) and 5 fixed sleeps (1 s each).
  const int naive = (std::max(20, cycles / 20) + repetitions - 1) / repetitions;
  const int sleeps = std::max(5, cycles / 80);  // 1 cycle per repetition

  auto add_variant = [](std::string name, std::string floor, Proof proof, std::string note) {
    Variant v;
    v.name = std::move(name);
    v.floor = std::move(floor);
    v.proof = proof;
    v.note = std::move(note);
    Variants().push_back(std::move(v));
  };
  add_variant("floor_fork", "", Proof::kGet, "fork, pipe, GET, SIGTERM, waitpid");
  add_variant("floor_exec", "", Proof::kGet, "fork+exec bench_server, pipe, GET, SIGTERM, waitpid");
  add_variant("floor_reexec", "", Proof::kGet,
              "fork+exec this binary, pipe, GET, SIGTERM, waitpid");
  for (const EnvSpec& spec : EnvSpecs()) {
    add_variant(spec.variant, spec.floor, spec.proof, spec.note);
  }
  add_variant("naive_fork", "floor_fork", Proof::kGet, "fixed port, GET retried every 100 ms");
  add_variant("sleep1s_fork", "floor_fork", Proof::kGet, "fixed port, sleep 1 s, GET");

  auto reg = [&](const std::string& name, int iterations, int reps, auto cycle) {
    benchmark::RegisterBenchmark(name.c_str(),
                                 [name, cycle](benchmark::State& state) {
                                   RunCycles(state, VariantNamed(name), cycle);
                                 })
        ->UseManualTime()
        ->Iterations(iterations)
        ->Repetitions(reps)
        ->Unit(benchmark::kMicrosecond);
  };
  reg("floor_fork", fast, repetitions, [](double* a, double* b, Phases* p) {
    return FloorCycle(FloorKind::kFork, a, b, p);
  });
  reg("floor_exec", fast, repetitions, [](double* a, double* b, Phases* p) {
    return FloorCycle(FloorKind::kExec, a, b, p);
  });
  reg("floor_reexec", fast, repetitions, [](double* a, double* b, Phases* p) {
    return FloorCycle(FloorKind::kReexec, a, b, p);
  });
  std::vector<EnvSpec> specs = EnvSpecs();
  for (size_t i = 0; i < specs.size(); ++i) {
    const std::string name = specs[i].variant;
    reg(name, fast, repetitions, [i, name](double* a, double* b, Phases*) {
      return EnvCycle(*Envs()[i], VariantNamed(name), a, b);
    });
  }
  benchmark::RegisterBenchmark("tls_material", [](benchmark::State& state) {
    for (auto _ : state) {
      double make_us = 0;
      if (!TlsMaterialCycle(&make_us)) {
        state.SkipWithError("making the TLS material failed");
        break;
      }
      g_tls_material_us.push_back(make_us);
      state.SetIterationTime(make_us / 1e6);
    }
  })->UseManualTime()->Iterations(fast)->Repetitions(repetitions)->Unit(benchmark::kMicrosecond);
  reg("naive_fork", naive, repetitions,
      [](double* a, double* b, Phases*) { return NaiveCycle(false, a, b); });
  reg("sleep1s_fork", 1, sleeps,
      [](double* a, double* b, Phases*) { return NaiveCycle(true, a, b); });
}

// A port that was free at start, used as the naive variants' fixed port.
uint16_t PickPort() {
  int sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(sock, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  getsockname(sock, reinterpret_cast<sockaddr*>(&address), &length);
  close(sock);
  return ntohs(address.sin_port);
}

std::string Fixed(double value, int digits) {
  if (std::isnan(value)) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.*f", digits, value);
  return text;
}

// The start figures of a floor for what a variant's start proves.
const std::vector<double>& FloorStart(const Variant& floor, Proof proof) {
  if (!floor.floor.empty()) return floor.start_us;  // another variant, same proof
  switch (proof) {
    case Proof::kPort: return floor.port_us;
    case Proof::kConnect: return floor.connect_us;
    default: return floor.start_us;
  }
}

void Report(const std::string& out_dir) {
  std::ofstream samples(out_dir + "/lifecycle_samples.csv");
  samples << "variant,cycle,start_us,stop_us\n";
  for (const Variant& v : Variants()) {
    for (size_t i = 0; i < v.start_us.size(); ++i) {
      samples << v.name << ',' << i << ',' << Fixed(v.start_us[i], 1) << ','
              << Fixed(v.stop_us[i], 1) << '\n';
    }
  }
  std::ofstream csv(out_dir + "/lifecycle_summary.csv");
  csv << "variant,floor,proof,cycles,start_p50_ms,start_p90_ms,start_p99_ms,start_max_ms,"
         "stop_p50_ms,stop_p90_ms,stop_p99_ms,stop_max_ms,floor_start_p50_ms,"
         "start_ratio_p50,stop_ratio_p50,start_ratio_p90,stop_ratio_p90,verify_retries,note\n";
  std::printf(
      "\nStart-to-ready and stop-to-reaped in ms, over all cycles of each variant.\n"
      "ratio = median / median of its floor (p90 / p90 in brackets); a start is compared with\n"
      "the floor's time to the same proof of readiness (proof: port known, TCP connect\n"
      "accepted, GET answered).\n");
  std::printf("%-14s %5s %-7s| %7s %7s %7s %8s | %7s %7s %7s %8s | %-12s %-12s\n", "variant",
              "cycles", "proof", "st p50", "st p90", "st p99", "st max", "sp p50", "sp p90",
              "sp p99", "sp max", "start ratio", "stop ratio");
  for (const Variant& v : Variants()) {
    if (v.start_us.empty()) continue;
    const Summary start = Summarize(v.start_us), stop = Summarize(v.stop_us);
    std::string start_ratio = "floor", stop_ratio = "floor";
    double r1 = NAN, r2 = NAN, r3 = NAN, r4 = NAN, floor_p50 = NAN;
    if (!v.floor.empty() && !VariantNamed(v.floor).start_us.empty()) {
      const Variant& floor = VariantNamed(v.floor);
      const Summary floor_stop = Summarize(floor.stop_us);
      r2 = stop.p50 / floor_stop.p50;
      r4 = stop.p90 / floor_stop.p90;
      stop_ratio = Fixed(r2, 2) + " (" + Fixed(r4, 2) + ")";
      if (v.proof == Proof::kNothing) {
        start_ratio = "n/a";
      } else {
        const Summary floor_start = Summarize(FloorStart(floor, v.proof));
        floor_p50 = floor_start.p50;
        r1 = start.p50 / floor_start.p50;
        r3 = start.p90 / floor_start.p90;
        start_ratio = Fixed(r1, 2) + " (" + Fixed(r3, 2) + ")";
      }
    }
    std::printf("%-14s %5zu %-7s| %7.3f %7.3f %7.3f %8.3f | %7.3f %7.3f %7.3f %8.3f | %-12s %-12s\n",
                v.name.c_str(), v.start_us.size(), ProofName(v.proof), start.p50 / 1e3,
                start.p90 / 1e3, start.p99 / 1e3, start.max / 1e3, stop.p50 / 1e3,
                stop.p90 / 1e3, stop.p99 / 1e3, stop.max / 1e3, start_ratio.c_str(),
                stop_ratio.c_str());
    csv << v.name << ',' << v.floor << ',' << ProofName(v.proof) << ',' << v.start_us.size()
        << ',' << Fixed(start.p50 / 1e3, 3) << ',' << Fixed(start.p90 / 1e3, 3) << ','
        << Fixed(start.p99 / 1e3, 3) << ',' << Fixed(start.max / 1e3, 3) << ','
        << Fixed(stop.p50 / 1e3, 3) << ',' << Fixed(stop.p90 / 1e3, 3) << ','
        << Fixed(stop.p99 / 1e3, 3) << ',' << Fixed(stop.max / 1e3, 3) << ','
        << Fixed(floor_p50 / 1e3, 3) << ',' << Fixed(r1, 3) << ',' << Fixed(r2, 3) << ','
        << Fixed(r3, 3) << ',' << Fixed(r4, 3) << ',' << v.verify_retries << ",\"" << v.note
        << "\"\n";
  }
  std::printf("Floor phases (median ms): ");
  for (const Variant& v : Variants()) {
    if (!v.floor.empty() || v.start_us.empty()) continue;
    std::printf("%s port %.3f, connect %.3f, GET %.3f;  ", v.name.c_str(),
                Summarize(v.port_us).p50 / 1e3, Summarize(v.connect_us).p50 / 1e3,
                Summarize(v.start_us).p50 / 1e3);
  }
  std::printf("\n");
  if (!g_tls_material_us.empty()) {
    const Summary tls = Summarize(g_tls_material_us);
    std::printf("tls_material (CA + server + client certificate, P-256): median %.3f ms, p90 "
                "%.3f ms over %zu; first call of the process, loading OpenSSL too: %.3f ms\n",
                tls.p50 / 1e3, tls.p90 / 1e3, g_tls_material_us.size(), g_tls_first_us / 1e3);
  }
  for (const Variant& v : Variants()) {
    if (v.verify_retries > 0) {
      std::printf("%s: %ld refused GET(s) after SetUp returned (retried every 0.25 ms)\n",
                  v.name.c_str(), v.verify_retries);
    }
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  // A child of floor_reexec: only the server.
  if (const char* fd = std::getenv(kFloorServeVariable)) {
    _exit(bench::ServeSmall("127.0.0.1", 0, std::atoi(fd)));
  }
  g_own_argv.assign(argv, argv + argc);
  // A child of env_reexec_*: the environments, in the same order; the one the
  // variable names serves and _exits inside SetUp.
  MakeEnvs();
  if (std::getenv(kLibraryServeVariable)) {
    for (auto& env : Envs()) env->SetUp();
    std::fprintf(stderr, "re-executed copy: no environment served\n");
    _exit(127);
  }

  std::string out_dir = ".";
  int cycles = 400;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--out_dir=", 10) == 0) {
      out_dir = argv[i] + 10;
    } else if (std::strncmp(argv[i], "--cycles=", 9) == 0) {
      cycles = std::max(8, std::atoi(argv[i] + 9));
    } else {
      rest.push_back(argv[i]);
    }
  }
  int rest_count = static_cast<int>(rest.size());
  g_fixed_port = PickPort();
  TlsMaterialCycle(&g_tls_first_us);  // the first one pays for loading OpenSSL
  RegisterAll(cycles);
  benchmark::Initialize(&rest_count, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rest_count, rest.data())) return 64;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  Report(out_dir);
  return 0;
}
