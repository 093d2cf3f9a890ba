// Per-test scope (Options::scope = Scope::kTest): what a test pays for its
// fresh server, a copy-on-write clone of a warm template, measured side by
// side with its floors in one run (Google Benchmark, repetitions randomly
// interleaved by bench/run.sh so that background load hits all alike).
//
//   floor_fork_byte      the floor: a helper process the size of a template
//                        (forked from this process, as the templates are)
//                        forks; the child writes one byte to a pipe; the
//                        helper reads it. Timed in the helper, fork to byte.
//   clone                a detail::ServerInstance under Scope::kTest, driven
//                        as ForkServerEnv drives it around each test:
//                        Start(true) (a clone of the template; the default
//                        probe, TcpConnect), then one GET /hello on a fresh
//                        connection, then EndUnit(). Timed from Start():
//                        ready = Start() returned, connect = the client's
//                        connect() returned (the kernel completed it on the
//                        listening socket the template keeps; only the clone
//                        accepts from it), get = the clone answered the GET.
//                        end = EndUnit() (SIGTERM, reap, data dir removed).
//   clone_http           the same with Probe::HttpGet("/hello"): Start()
//                        returns after the library's own GET was answered.
//   scratch              the same small server started from scratch per test
//                        (Scope::kBinary: Start() forks, binds, serves), then
//                        GET, then Finish(): what each test pays without a
//                        checkpoint.
//   floor_fork_byte_256m the floor for a process with 256 MiB written.
//   warm_clone_256m      clone, from a template whose server function wrote
//                        256 MiB (every page) before ServeHttplib.
//   warm_scratch_256m    scratch with the same 256 MiB written each start.
//
// The figures the issue asks for: clone connect and get against
// floor_fork_byte (target: at most 1.5x, median under 1 ms), and
// warm_scratch_256m against warm_clone_256m (target: at least 100x).
//
// Own flags (before Google Benchmark's): --out_dir=DIR (default .),
// --cycles=N (cycles of each fast variant, default 400; the scratch 256 MiB
// variant gets N/20, at least 10). Writes clone_summary.csv and
// clone_samples.csv to out_dir and prints the table.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <gtest_fork_env/httplib_server.h>

#include "server_instance.h"
#include "floor.h"

namespace {

using Clock = std::chrono::steady_clock;
using gtest_fork_env::Options;
using gtest_fork_env::Probe;
using gtest_fork_env::Scope;
using gtest_fork_env::detail::Launch;
using gtest_fork_env::detail::ServerInstance;

constexpr size_t kWarmBytes = size_t{256} << 20;

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

// One cycle's times in microseconds from its start; NAN where not measured.
struct Sample {
  double ready = NAN, connect = NAN, get = NAN, end = NAN;
  // Page faults of the server process (the clone, or the floor's child)
  // from its birth until it answered (wrote its byte): on a VM each costs
  // far more than on bare metal, and copy-on-write makes a clone pay them.
  double faults = NAN;
  // Inside the server: it was back from Checkpoint() (ServeHttplib's
  // after_checkpoint ran; from scratch, right after binding: no checkpoint),
  // and a worker had read the request. Between the two: the stop-signal
  // watcher thread, httplib's task queue (a clone's makes a worker when the
  // first connection comes), the accept.
  double back = NAN, request = NAN;
};

// Where a server writes when it reached each phase (steady_clock, ns since
// its epoch, which is CLOCK_MONOTONIC and so the same in every process): a
// MAP_SHARED page made before any server, inherited by templates and clones.
struct PhaseStamps {
  std::atomic<long long> back{0}, request{0};
  void Clear() { back = request = 0; }
};
PhaseStamps* g_stamps = nullptr;

long long NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// Microseconds from `t0` to a stamp; NAN when the stamp was not written.
double SinceUs(Clock::time_point t0, const std::atomic<long long>& stamp) {
  const long long ns = stamp.load();
  if (ns == 0) return NAN;
  return static_cast<double>(ns - std::chrono::duration_cast<std::chrono::nanoseconds>(
                                      t0.time_since_epoch()).count()) / 1e3;
}

// Minor faults of `pid` so far (/proc/<pid>/stat, field 10); NAN if unknown.
double MinorFaults(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos) return NAN;
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  for (int i = 3; i <= 10 && fields >> field; ++i) {
  }
  return fields ? std::atof(field.c_str()) : NAN;
}

struct Variant {
  std::string name;
  std::string floor;  // "" for a floor
  std::string note;
  std::vector<Sample> samples;
  long failures = 0;
};

std::vector<Variant>& Variants() {
  static std::vector<Variant> variants;
  return variants;
}

Variant& Named(const std::string& name) {
  for (Variant& v : Variants()) {
    if (v.name == name) return v;
  }
  std::fprintf(stderr, "clone_bench: no variant %s\n", name.c_str());
  std::abort();
}

// Writes every page of a fresh `bytes`-long mapping: state a warm-up built.
// Kept for the life of the process, as a server's warm state is.
void WarmState(size_t bytes) {
  if (bytes == 0) return;
  void* mapping = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapping == MAP_FAILED) {
    std::perror("clone_bench: mmap");
    _exit(1);
  }
  auto* pages = static_cast<volatile char*>(mapping);
  for (size_t at = 0; at < bytes; at += 4096) pages[at] = static_cast<char>(at >> 12 | 1);
}

// ------------------------------------------------------------------ floor

// A helper process of a template's size that, for each byte it reads on
// `sock`, times fork -> child writes one byte to a pipe -> helper reads it,
// and answers the nanoseconds (int64). Ends at end-of-file on `sock`.
[[noreturn]] void FloorHelper(int sock, size_t warm_bytes) {
  WarmState(warm_bytes);
  char order;
  while (read(sock, &order, 1) == 1) {
    int fds[2];
    long long ns = -1;
    struct rusage usage;
    std::memset(&usage, 0, sizeof usage);
    if (pipe2(fds, O_CLOEXEC) == 0) {
      const auto t0 = Clock::now();
      const pid_t pid = fork();
      if (pid == 0) {
        ssize_t wrote = write(fds[1], "x", 1);
        _exit(wrote == 1 ? 0 : 1);
      }
      close(fds[1]);
      char byte = 0;
      const bool got = pid > 0 && read(fds[0], &byte, 1) == 1;
      const auto t1 = Clock::now();
      close(fds[0]);
      int status = 0;
      if (pid > 0) wait4(pid, &status, 0, &usage);
      if (got && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
      }
    }
    long long reply[2] = {ns, usage.ru_minflt};
    if (write(sock, reply, sizeof reply) != static_cast<ssize_t>(sizeof reply)) break;
  }
  _exit(0);
}

class Floor {
 public:
  explicit Floor(size_t warm_bytes) {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) std::abort();
    std::fflush(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      close(pair[0]);
      FloorHelper(pair[1], warm_bytes);
    }
    close(pair[1]);
    sock_ = pair[0];
  }
  ~Floor() {
    close(sock_);
    waitpid(pid_, nullptr, 0);
  }
  bool Cycle(Sample* sample) {
    long long reply[2] = {-1, 0};  // ns, the child's faults
    if (write(sock_, "f", 1) != 1 || read(sock_, reply, sizeof reply) != sizeof reply ||
        reply[0] < 0) {
      return false;
    }
    sample->ready = sample->connect = sample->get = static_cast<double>(reply[0]) / 1e3;
    sample->faults = static_cast<double>(reply[1]);
    return true;
  }

 private:
  pid_t pid_ = -1;
  int sock_ = -1;
};

// ----------------------------------------------------------- the library

std::function<int(gtest_fork_env::ServerContext&)> SmallServer(size_t warm_bytes) {
  return [warm_bytes](gtest_fork_env::ServerContext& context) {
    WarmState(warm_bytes);  // before ServeHttplib: once per template
    httplib::Server server;
    bench::ConfigureSmallServer(server);
    if (g_stamps) {
      server.set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
        g_stamps->request = NowNs();
        return httplib::Server::HandlerResponse::Unhandled;
      });
    }
    return gtest_fork_env::ServeHttplib(server, context, [] {
      if (g_stamps) g_stamps->back = NowNs();
      return 0;
    });
  };
}

std::unique_ptr<ServerInstance> MakeServer(const std::string& name, Scope scope, Probe probe,
                                           size_t warm_bytes) {
  Options options;
  options.name = "bench-" + name;
  options.scope = scope;
  options.probe = probe;
  Launch launch;
  launch.function = SmallServer(warm_bytes);
  return std::make_unique<ServerInstance>(options, launch);
}

bool Fails(const gtest_fork_env::detail::Failure& failure) {
  if (!failure) return false;
  std::fprintf(stderr, "clone_bench: %s\n", failure->c_str());
  return true;
}

// One test. Under Scope::kTest: Start (a clone), GET, EndUnit. From scratch
// (`per_test` false): Start (fork, warm-up, bind), GET, Finish (stop, reap,
// remove the log and data directory).
bool TestCycle(ServerInstance& server, bool per_test, Sample* sample) {
  g_stamps->Clear();
  const auto t0 = Clock::now();
  if (Fails(server.Start(per_test))) return false;
  const auto t_ready = Clock::now();
  Clock::time_point t_connect = t_ready;
  const bool answered = bench::GetHelloOnce(server.port(), &t_connect);
  const auto t_get = Clock::now();
  sample->faults = MinorFaults(server.pid());
  sample->back = SinceUs(t0, g_stamps->back);
  sample->request = SinceUs(t0, g_stamps->request);
  bool ended = true;
  if (per_test) {
    ended = !Fails(server.EndUnit(false, "test bench.Cycle"));
  } else {
    server.Finish(true);
  }
  sample->ready = Micros(t_ready - t0);
  sample->connect = Micros(t_connect - t0);
  sample->get = Micros(t_get - t0);
  sample->end = Micros(Clock::now() - t_get);
  return answered && ended;
}

using CycleFn = std::function<bool(Sample*)>;

void Register(const std::string& name, const std::string& floor, const std::string& note,
              int cycles, CycleFn cycle) {
  Variants().push_back({name, floor, note, {}, 0});
  const int repetitions = std::min(10, cycles);
  const int iterations = std::max(1, cycles / repetitions);
  benchmark::RegisterBenchmark(name.c_str(),
                               [name, cycle](benchmark::State& state) {
                                 Variant& variant = Named(name);
                                 for (auto _ : state) {
                                   Sample sample;
                                   if (!cycle(&sample)) {
                                     ++variant.failures;
                                     state.SkipWithError("a cycle failed (see stderr)");
                                     break;
                                   }
                                   variant.samples.push_back(sample);
                                   state.SetIterationTime(sample.get / 1e6);
                                 }
                               })
      ->UseManualTime()
      ->Iterations(iterations)
      ->Repetitions(repetitions)
      ->Unit(benchmark::kMicrosecond);
}

// Servers and floors live from registration to the end of main.
struct Fixtures {
  std::unique_ptr<Floor> floor, floor_warm;
  std::unique_ptr<ServerInstance> clone, clone_http, scratch, warm_clone, warm_scratch;
};

// Starts a Scope::kTest server (template and first clone) and ends its first
// test, so that every timed cycle is a test start between tests.
bool Prime(ServerInstance& server) {
  return !Fails(server.Start(false)) && !Fails(server.EndUnit(false, "test bench.Prime"));
}

bool RegisterAll(Fixtures& f, int cycles) {
  void* shared = mmap(nullptr, sizeof(PhaseStamps), PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) return false;
  g_stamps = new (shared) PhaseStamps;
  // The floors first: forked from this process before any server exists.
  f.floor = std::make_unique<Floor>(0);
  f.floor_warm = std::make_unique<Floor>(kWarmBytes);
  f.clone = MakeServer("clone", Scope::kTest, Probe::TcpConnect(), 0);
  f.clone_http = MakeServer("clone_http", Scope::kTest, Probe::HttpGet("/hello"), 0);
  f.scratch = MakeServer("scratch", Scope::kBinary, Probe::TcpConnect(), 0);
  f.warm_clone = MakeServer("warm_clone", Scope::kTest, Probe::TcpConnect(), kWarmBytes);
  f.warm_scratch = MakeServer("warm_scratch", Scope::kBinary, Probe::TcpConnect(), kWarmBytes);
  if (!Prime(*f.clone) || !Prime(*f.clone_http) || !Prime(*f.warm_clone)) return false;
  const int slow = std::max(10, cycles / 20);
  Register("floor_fork_byte", "", "fork, child writes 1 byte to a pipe, parent reads it", cycles,
           [&f](Sample* s) { return f.floor->Cycle(s); });
  Register("clone", "floor_fork_byte", "Scope::kTest, Probe::TcpConnect (default)", cycles,
           [&f](Sample* s) { return TestCycle(*f.clone, true, s); });
  Register("clone_http", "floor_fork_byte", "Scope::kTest, Probe::HttpGet(\"/hello\")", cycles,
           [&f](Sample* s) { return TestCycle(*f.clone_http, true, s); });
  Register("scratch", "floor_fork_byte", "Scope::kBinary start per test (fork, bind, serve)",
           cycles / 2, [&f](Sample* s) { return TestCycle(*f.scratch, false, s); });
  Register("floor_fork_byte_256m", "", "the floor, from a process with 256 MiB written", cycles / 2,
           [&f](Sample* s) { return f.floor_warm->Cycle(s); });
  Register("warm_clone_256m", "floor_fork_byte_256m",
           "Scope::kTest, template wrote 256 MiB before its checkpoint", cycles / 2,
           [&f](Sample* s) { return TestCycle(*f.warm_clone, true, s); });
  Register("warm_scratch_256m", "warm_clone_256m",
           "from scratch per test, writing the same 256 MiB each start", slow,
           [&f](Sample* s) { return TestCycle(*f.warm_scratch, false, s); });
  return true;
}

// ----------------------------------------------------------------- report

double Percentile(std::vector<double> values, double p) {
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return std::isnan(v); }),
               values.end());
  if (values.empty()) return NAN;
  std::sort(values.begin(), values.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

std::vector<double> Field(const Variant& v, double Sample::*field) {
  std::vector<double> out;
  for (const Sample& s : v.samples) out.push_back(s.*field);
  return out;
}

std::string Ms(double micros, int digits = 3) {
  if (std::isnan(micros)) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.*f", digits, micros / 1e3);
  return text;
}

std::string Ratio(double a, double b) {
  if (std::isnan(a) || std::isnan(b) || b <= 0) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", a / b);
  return text;
}

void PrintPhases();

void WriteSamples(const std::string& out_dir) {
  std::ofstream samples(out_dir + "/clone_samples.csv");
  samples << "variant,cycle,ready_us,connect_us,get_us,end_us,faults,back_us,request_us\n";
  for (const Variant& v : Variants()) {
    for (size_t i = 0; i < v.samples.size(); ++i) {
      const Sample& s = v.samples[i];
      char line[256];
      std::snprintf(line, sizeof line, "%s,%zu,%.1f,%.1f,%.1f,%.1f,%.0f,%.1f,%.1f\n",
                    v.name.c_str(), i, s.ready, s.connect, s.get, s.end, s.faults, s.back,
                    s.request);
      samples << line;
    }
  }
}

// One row per variant: percentiles in ms, and the ratios of its connect and
// get medians (and of a whole test: get + end) to its reference's.
void Report(const std::string& out_dir) {
  WriteSamples(out_dir);
  std::ofstream csv(out_dir + "/clone_summary.csv");
  csv << "variant,reference,cycles,failures,ready_p50_ms,connect_p50_ms,connect_p90_ms,"
         "get_p50_ms,get_p90_ms,get_p99_ms,get_max_ms,end_p50_ms,end_p90_ms,"
         "reference_get_p50_ms,connect_ratio_p50,get_ratio_p50,get_ratio_p90,"
         "test_ratio_p50,faults_p50,back_p50_ms,request_p50_ms,note\n";
  std::printf("\nPer-test scope: ms over all cycles of each variant (connect and get are times\n"
              "from the test's start; end is EndUnit or Finish). ratio = median / median of the\n"
              "reference (the floor's fork-to-byte; for warm_scratch_256m, warm_clone_256m).\n");
  std::printf("%-21s %5s | %7s %7s %7s %7s %7s %8s | %7s | %-7s %-7s %-7s %-7s | %s\n",
              "variant", "cycles", "ready", "connect", "get p50", "get p90", "get p99", "get max",
              "end p50", "conn/r", "get/r", "p90/r", "test/r", "faults");
  for (const Variant& v : Variants()) {
    if (v.samples.empty() && v.failures == 0) continue;
    const auto get = Field(v, &Sample::get), connect = Field(v, &Sample::connect);
    const auto end = Field(v, &Sample::end);
    double ref_get = NAN, ref_get90 = NAN, ref_test = NAN;
    if (!v.floor.empty()) {
      const Variant& ref = Named(v.floor);
      ref_get = Percentile(Field(ref, &Sample::get), 50);
      ref_get90 = Percentile(Field(ref, &Sample::get), 90);
      const double ref_end = Percentile(Field(ref, &Sample::end), 50);
      ref_test = ref_get + (std::isnan(ref_end) ? 0 : ref_end);
    }
    const double test = Percentile(get, 50) + Percentile(end, 50);
    const std::string r_connect = Ratio(Percentile(connect, 50), ref_get);
    const std::string r_get = Ratio(Percentile(get, 50), ref_get);
    const std::string r_get90 = Ratio(Percentile(get, 90), ref_get90);
    const std::string r_test = Ratio(test, ref_test);
    std::printf("%-21s %5zu | %7s %7s %7s %7s %7s %8s | %7s | %-7s %-7s %-7s %-7s | %.0f\n",
                v.name.c_str(), v.samples.size(), Ms(Percentile(Field(v, &Sample::ready), 50)).c_str(),
                Ms(Percentile(connect, 50)).c_str(), Ms(Percentile(get, 50)).c_str(),
                Ms(Percentile(get, 90)).c_str(), Ms(Percentile(get, 99)).c_str(),
                Ms(Percentile(get, 100)).c_str(), Ms(Percentile(end, 50)).c_str(),
                r_connect.c_str(), r_get.c_str(), r_get90.c_str(), r_test.c_str(),
                Percentile(Field(v, &Sample::faults), 50));
    csv << v.name << ',' << v.floor << ',' << v.samples.size() << ',' << v.failures << ','
        << Ms(Percentile(Field(v, &Sample::ready), 50)) << ',' << Ms(Percentile(connect, 50))
        << ',' << Ms(Percentile(connect, 90)) << ',' << Ms(Percentile(get, 50)) << ','
        << Ms(Percentile(get, 90)) << ',' << Ms(Percentile(get, 99)) << ','
        << Ms(Percentile(get, 100)) << ',' << Ms(Percentile(end, 50)) << ','
        << Ms(Percentile(end, 90)) << ',' << Ms(ref_get) << ',' << r_connect << ',' << r_get
        << ',' << r_get90 << ',' << r_test << ',' << Percentile(Field(v, &Sample::faults), 50)
        << ',' << Ms(Percentile(Field(v, &Sample::back), 50)) << ','
        << Ms(Percentile(Field(v, &Sample::request), 50)) << ",\"" << v.note << "\"\n";
  }
  PrintPhases();
  std::fflush(stdout);
}

void PrintPhases() {
  std::printf("\nPhases (median ms from the test's start): ready = Start() returned; back =\n"
              "the server was back from Checkpoint() (from scratch: bound); request = a worker\n"
              "read the GET (after the watcher thread, the task queue, a worker); get = answered.\n");
  for (const Variant& v : Variants()) {
    if (std::isnan(Percentile(Field(v, &Sample::back), 50))) continue;
    std::printf("%-21s ready %s  back %s  request %s  get %s\n", v.name.c_str(),
                Ms(Percentile(Field(v, &Sample::ready), 50)).c_str(),
                Ms(Percentile(Field(v, &Sample::back), 50)).c_str(),
                Ms(Percentile(Field(v, &Sample::request), 50)).c_str(),
                Ms(Percentile(Field(v, &Sample::get), 50)).c_str());
  }
}

// The value of `--name=value` in `arg`, or nullptr when `arg` is another.
const char* FlagValue(const char* arg, const std::string& name) {
  const std::string prefix = "--" + name + "=";
  return std::strncmp(arg, prefix.c_str(), prefix.size()) == 0 ? arg + prefix.size() : nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out_dir = ".";
  int cycles = 400;
  std::vector<char*> rest;  // Google Benchmark's
  for (char** arg = argv; arg < argv + argc; ++arg) {
    const char* dir = FlagValue(*arg, "out_dir");
    const char* count = FlagValue(*arg, "cycles");
    if (dir) out_dir = dir;
    if (count) cycles = std::max(20, std::atoi(count));
    if (!dir && !count) rest.push_back(*arg);
  }
  int rest_count = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_count, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rest_count, rest.data())) return 64;
  Fixtures fixtures;
  if (!RegisterAll(fixtures, cycles)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  Report(out_dir);
  for (auto* server : {fixtures.clone.get(), fixtures.clone_http.get(), fixtures.warm_clone.get()}) {
    server->Finish(true);
  }
  bool failed = false;
  for (const Variant& v : Variants()) failed = failed || v.failures > 0;
  return failed ? 1 : 0;
}
