// What a big warm template does to each test's clone, with and without
// Options::huge_pages, side by side in one run: rounds of one cycle of each
// variant, in an order shuffled each round, so that load hits them alike.
// Every variant is Scope::kTest over the same small httplib server
// (small_server.h); a cycle is one test: Start (a clone), GET /hello
// answered, EndUnit (stop, reap, data directory removed).
//
//   small         no warm state: the reference
//   64m, 256m     the server function wrote 64 or 256 MiB (every page)
//                 before its checkpoint; huge pages on (the default)
//   64m_4k, ...   the same with Options::huge_pages = false
//   256m_touch    and its _4k twin: each clone also writes one byte in every
//                 2 MiB of the warm state before it answers (128 writes):
//                 the copy-on-write a test's writes cost
//   small_kill    small, with Options::kill_passed_clones (SIGKILL at the end)
//   floor_thread  the floor of a clone, by hand (floor.h FloorThreadCycle):
//                 this process forks, the child makes one thread that accepts
//                 and answers the GET on a socket bound once, then SIGKILL
//                 and waitpid. Target (issue 19): small at most 2x of it.
//
// The target (issue 19): a clone of a 64 or 256 MiB template costs at most
// max(2x, +2 ms) of a clone of the small one. Before the rounds each
// template has run 3 tests (the third order starts the collapse) and the
// bench waits until its AnonHugePages stops growing: the one-time cost is
// reported apart (wall time, the template's CPU time, its memory).
//
//   big_template_bench [--rounds=N] [--out_dir=DIR]
//
// Writes big_template.csv (a row a variant) and big_template.txt.

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest_fork_env/httplib_server.h>

#include "bench_util.h"
#include "floor.h"
#include "listen_socket.h"
#include "server_instance.h"
#include "small_server.h"

namespace {

using Clock = std::chrono::steady_clock;
using gtest_fork_env::Options;
using gtest_fork_env::Scope;
using gtest_fork_env::detail::Launch;
using gtest_fork_env::detail::ServerInstance;
using std::chrono::milliseconds;

constexpr size_t kHugePage = size_t{2} << 20;

bool Fails(const gtest_fork_env::detail::Failure& failure) {
  return bench::Fails("big_template_bench", failure);
}

struct Shape {
  std::string name;
  size_t warm_bytes;
  bool huge_pages;
  bool touch;  // the clone writes a byte in every 2 MiB before it answers
  bool kill = false;  // Options::kill_passed_clones
};

// The server: `warm_bytes` written before ServeHttplib (once per template).
std::function<int(gtest_fork_env::ServerContext&)> WarmServer(const Shape& shape) {
  return [shape](gtest_fork_env::ServerContext& context) {
    char* warm = nullptr;
    if (shape.warm_bytes > 0) {
      void* mapping = mmap(nullptr, shape.warm_bytes, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (mapping == MAP_FAILED) return 1;
      warm = static_cast<char*>(mapping);
      for (size_t at = 0; at < shape.warm_bytes; at += 4096) warm[at] = static_cast<char>(at | 1);
    }
    httplib::Server server;
    bench::ConfigureSmallServer(server);
    if (shape.touch) {
      server.set_pre_routing_handler([warm, shape](const httplib::Request&, httplib::Response&) {
        for (size_t at = 0; at < shape.warm_bytes; at += kHugePage) warm[at + 64] = 0;
        return httplib::Server::HandlerResponse::Unhandled;
      });
    }
    return gtest_fork_env::ServeHttplib(server, context);
  };
}

std::unique_ptr<ServerInstance> MakeServer(const Shape& shape) {
  Options options;
  options.name = "big-" + shape.name;
  options.scope = Scope::kTest;
  options.huge_pages = shape.huge_pages;
  options.kill_passed_clones = shape.kill;
  options.start_timeout = milliseconds(30000);
  Launch launch;
  launch.function = WarmServer(shape);
  return std::make_unique<ServerInstance>(options, launch);
}

// `same_port` false for the first test of a server, as ForkServerEnv starts it.
bool Cycle(ServerInstance& server, bool same_port = true) {
  if (Fails(server.Start(same_port))) return false;
  const bool answered = bench::GetHelloOnce(server.port());
  return !Fails(server.EndUnit(false, "bench cycle")) && answered;
}

// A field of /proc/<pid>/status or smaps_rollup in kB ("VmRSS:"), -1 if none.
long KilobytesOf(pid_t pid, const std::string& file, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + file);
  std::string word;
  long value = -1;
  while (in >> word) {
    if (word == key && in >> value) return value;
  }
  return -1;
}

// utime + stime of `pid` in clock ticks (/proc/<pid>/stat, fields 14, 15).
double CpuMs(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  long ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i >= 14) ticks += std::atol(field.c_str());
  }
  return 1000.0 * static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// What the template did once: its collapse (wall and CPU), its memory.
struct OneTime {
  double collapse_wall_ms = 0, collapse_cpu_ms = 0;
  long rss_before_kb = 0, rss_after_kb = 0, huge_kb = 0;
};

// Runs the first 3 tests (the third order starts the collapse), then waits
// until the template's AnonHugePages has not grown for 300 ms (at most 60 s).
bool Prime(ServerInstance& server, OneTime* once) {
  if (!Cycle(server, false) || !Cycle(server)) return false;
  const pid_t template_pid = server.template_pid();
  once->rss_before_kb = KilobytesOf(template_pid, "status", "VmRSS:");
  const double cpu_before = CpuMs(template_pid);
  const auto t0 = Clock::now();
  if (!Cycle(server)) return false;
  auto last_growth = Clock::now();
  long huge = KilobytesOf(template_pid, "smaps_rollup", "AnonHugePages:");
  while (Clock::now() - last_growth < milliseconds(300) && Clock::now() - t0 < milliseconds(60000)) {
    std::this_thread::sleep_for(milliseconds(5));
    const long now = KilobytesOf(template_pid, "smaps_rollup", "AnonHugePages:");
    if (now != huge) last_growth = Clock::now();
    huge = now;
  }
  once->collapse_wall_ms = std::chrono::duration<double, std::milli>(last_growth - t0).count();
  once->collapse_cpu_ms = CpuMs(template_pid) - cpu_before;
  once->rss_after_kb = KilobytesOf(template_pid, "status", "VmRSS:");
  once->huge_kb = huge;
  return true;
}

struct Variant {
  Shape shape;
  std::unique_ptr<ServerInstance> server;  // none for the floor
  std::function<bool()> cycle;
  OneTime once;
  std::vector<double> ms;
};

void Report(const std::vector<Variant>& variants, const std::string& out_dir,
            const std::string& load_before) {
  std::map<std::string, double> median;
  for (const Variant& v : variants) median[v.shape.name] = bench::Percentile(v.ms, 0.5);
  const double small = median["small"];
  std::ostringstream text;
  text << "big_template_bench: a test's clone, start to GET answered plus its end (ms);\n"
       << "target for 64m and 256m: at most max(2x, +2 ms) of small = "
       << std::max(2 * small, small + 2.0) << " ms\n"
       << "load before " << load_before << ", after " << bench::LoadAverage() << "\n";
  std::ofstream csv(out_dir + "/big_template.csv");
  csv << "variant,warm_mib,huge_pages,cycles,median_ms,p10_ms,p90_ms,ratio_to_small,"
         "target_ms,meets_target,collapse_wall_ms,collapse_cpu_ms,rss_before_kb,rss_after_kb,"
         "anon_huge_kb\n";
  char line[512];
  for (const Variant& v : variants) {
    const double m = median[v.shape.name];
    // The target is for a plain clone with huge pages on; the rest show
    // what it would be without them, and what writes cost.
    const bool has_target = v.shape.warm_bytes > 0 && v.shape.huge_pages && !v.shape.touch;
    const double target = std::max(2 * small, small + 2.0);
    const bool meets = m <= target;
    std::snprintf(line, sizeof line,
                  "%-13s median %6.2f  p10 %6.2f  p90 %6.2f  x%.2f of small%s"
                  "  collapse %.0f ms wall, %.0f ms cpu; rss %ld -> %ld kB, huge %ld kB\n",
                  v.shape.name.c_str(), m, bench::Percentile(v.ms, 0.1),
                  bench::Percentile(v.ms, 0.9), m / small,
                  !has_target ? "" : meets ? " (target met)" : " (target MISSED)",
                  v.once.collapse_wall_ms, v.once.collapse_cpu_ms, v.once.rss_before_kb,
                  v.once.rss_after_kb, v.once.huge_kb);
    text << line;
    csv << v.shape.name << "," << (v.shape.warm_bytes >> 20) << "," << v.shape.huge_pages << ","
        << v.ms.size() << "," << m << "," << bench::Percentile(v.ms, 0.1) << ","
        << bench::Percentile(v.ms, 0.9) << "," << m / small << ","
        << (has_target ? std::to_string(target) : "") << "," << (has_target ? meets : true)
        << "," << v.once.collapse_wall_ms << "," << v.once.collapse_cpu_ms << ","
        << v.once.rss_before_kb << "," << v.once.rss_after_kb << "," << v.once.huge_kb << "\n";
  }
  const double floor = median["floor_thread"];
  std::snprintf(line, sizeof line,
                "against the floor (fork, one thread, the GET answered, SIGKILL, reaped; "
                "target <= 2x): small x%.2f, small_kill x%.2f\n",
                small / floor, median["small_kill"] / floor);
  text << line;
  std::ofstream(out_dir + "/big_template.txt") << text.str();
  std::fputs(text.str().c_str(), stdout);
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 100;
  std::string out_dir = ".";
  for (int i = 1; i < argc; ++i) {
    if (const char* value = bench::FlagValue(argv[i], "--rounds")) rounds = std::atoi(value);
    if (const char* value = bench::FlagValue(argv[i], "--out_dir")) out_dir = value;
  }
  const std::string load_before = bench::LoadAverage();
  const size_t mib = size_t{1} << 20;
  std::vector<Variant> variants;
  for (Shape shape : std::vector<Shape>{{"small", 0, true, false},
                                        {"small_kill", 0, true, false, true},
                                        {"64m", 64 * mib, true, false},
                                        {"64m_4k", 64 * mib, false, false},
                                        {"256m", 256 * mib, true, false},
                                        {"256m_4k", 256 * mib, false, false},
                                        {"256m_touch", 256 * mib, true, true},
                                        {"256m_touch_4k", 256 * mib, false, true}}) {
    auto server = MakeServer(shape);
    ServerInstance* instance = server.get();
    variants.push_back({shape, std::move(server), [instance] { return Cycle(*instance); }, {}, {}});
  }
  gtest_fork_env::detail::UniqueFd floor_socket;
  uint16_t floor_port = 0;
  if (gtest_fork_env::detail::Listen("127.0.0.1", 0, floor_socket, &floor_port)) return 1;
  const int floor_fd = floor_socket.get();
  variants.push_back({{"floor_thread", 0, false, false}, nullptr,
                      [floor_fd, floor_port] { return bench::FloorThreadCycle(floor_fd, floor_port); },
                      {}, {}});
  for (Variant& v : variants) {
    if (v.server && !Prime(*v.server, &v.once)) return 1;
  }
  std::mt19937 shuffle(20261207);
  std::vector<size_t> order(variants.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (int round = 0; round < rounds; ++round) {
    std::shuffle(order.begin(), order.end(), shuffle);
    for (size_t i : order) {
      const auto t0 = Clock::now();
      if (!variants[i].cycle()) {
        std::fprintf(stderr, "big_template_bench: a cycle of %s failed\n",
                     variants[i].shape.name.c_str());
        return 1;
      }
      variants[i].ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
  }
  for (Variant& v : variants) {
    if (v.server) v.server->Finish(true);
  }
  Report(variants, out_dir, load_before);
  return 0;
}
