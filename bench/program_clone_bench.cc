// What a test pays for a fresh server when the server is a program, three
// ways side by side in one run (rounds of one cycle of each variant, so
// that load hits them alike):
//   anew   the program started for each test (Start, GET, Stop), as without
//          warm clones;
//   clone  a warm clone of it under Scope::kTest (Start, GET, EndUnit);
//   floor  by hand: the same warm process forks itself, the child answers
//          the one GET and exits, the parent reaps it.
// For the Python service (tests/programs/kv_server.py, an http.server with
// a 300,000-entry table built at start-up, Options::preload_checkpoint) and
// for the sample's sample_server executable, whose clone is also compared
// with the fork-mode clone of the same server function.
//
//   program_clone_bench [--rounds=N] [--out_dir=DIR]
//
// Writes program_clone.csv (one row a variant: median, p10, p90 in ms) and
// program_clone.txt (the same with the ratios the README quotes).

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>

#include "bench_util.h"
#include "listen_socket.h"
#include "sample_server/serve.h"
#include "server_instance.h"

namespace {

using Clock = std::chrono::steady_clock;
using gtest_fork_env::Options;
using gtest_fork_env::Probe;
using gtest_fork_env::Scope;
using gtest_fork_env::detail::Launch;
using gtest_fork_env::detail::ServerInstance;

using bench::FlagValue;
using bench::LoadAverage;
using bench::Percentile;

bool Fails(const gtest_fork_env::detail::Failure& failure) {
  return bench::Fails("program_clone_bench", failure);
}

// One GET on a fresh connection; true when it got a 200.
bool GetOk(uint16_t port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(10, 0);
  auto answer = client.Get(path);
  return answer && answer->status == 200;
}

struct Variant {
  std::string name;
  std::function<bool()> cycle;  // one test: start, GET answered, stop
  std::vector<double> ms;
};

std::unique_ptr<ServerInstance> MakeServer(const std::string& name, Scope scope, Launch launch,
                                           bool preload) {
  Options options;
  options.name = name;
  options.scope = scope;
  options.preload_checkpoint = preload;
  options.start_timeout = std::chrono::milliseconds(30000);
  return std::make_unique<ServerInstance>(options, std::move(launch));
}

// Started anew for each test: a process per cycle.
std::function<bool()> AnewCycle(ServerInstance& server, const std::string& path) {
  return [&server, path] {
    if (Fails(server.Start(true))) return false;
    const bool ok = GetOk(server.port(), path);
    server.Stop();
    return ok;
  };
}

// A warm clone per cycle, after a first unit that made the template.
std::function<bool()> CloneCycle(ServerInstance& server, const std::string& path) {
  return [&server, path] {
    if (Fails(server.Start(true))) return false;
    const bool ok = GetOk(server.port(), path);
    return !Fails(server.EndUnit(false, "bench cycle")) && ok;
  };
}

// The Python floor: kv_server.py --fork-per-line, driven through its stdin
// and stdout.
class PythonFloor {
 public:
  bool Start(uint16_t port) {
    int to_child[2], from_child[2];
    if (pipe(to_child) != 0 || pipe(from_child) != 0) return false;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(to_child[0], 0);
      dup2(from_child[1], 1);
      const std::string port_text = std::to_string(port);
      execl("/usr/bin/python3", "python3", KV_SERVER_PY, "--port", port_text.c_str(),
            "--warmup-entries", "300000", "--fork-per-line", static_cast<char*>(nullptr));
      _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    in_ = to_child[1];
    out_ = from_child[0];
    port_ = port;
    return ReadLine().rfind("listening", 0) == 0;
  }
  bool Cycle() {
    if (write(in_, "go\n", 3) != 3) return false;
    const bool ok = GetOk(port_, "/value");
    return ReadLine() == "reaped" && ok;
  }
  ~PythonFloor() {
    if (pid_ > 0) {
      close(in_);
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

 private:
  std::string ReadLine() {
    std::string line;
    char c;
    struct pollfd event = {out_, POLLIN, 0};
    while (poll(&event, 1, 30000) > 0 && read(out_, &c, 1) == 1 && c != '\n') line += c;
    return line;
  }
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1;
  uint16_t port_ = 0;
};

uint16_t FreePort() {
  uint16_t port = 0;
  gtest_fork_env::detail::UniqueFd socket;
  gtest_fork_env::detail::Listen("127.0.0.1", 0, socket, &port);
  return port;
}

void Report(const std::vector<Variant>& variants, const std::string& out_dir,
            const std::string& load_before) {
  std::map<std::string, double> median;
  std::ofstream csv(out_dir + "/program_clone.csv");
  csv << "variant,cycles,median_ms,p10_ms,p90_ms\n";
  for (const Variant& v : variants) {
    median[v.name] = Percentile(v.ms, 0.5);
    csv << v.name << "," << v.ms.size() << "," << median[v.name] << ","
        << Percentile(v.ms, 0.1) << "," << Percentile(v.ms, 0.9) << "\n";
  }
  char text[2048];
  std::snprintf(
      text, sizeof text,
      "program_clone_bench: start to GET answered plus stop, per test (median ms)\n"
      "load before %s, after %s\n"
      "python service (http.server, 300,000-entry table):\n"
      "  anew %.2f  clone %.2f  floor %.2f\n"
      "  anew/clone %.1fx (target >= 10x)  clone/floor %.2fx (target <= 1.5x)\n"
      "sample_server:\n"
      "  anew %.2f  exec clone %.2f  fork-mode clone %.2f\n"
      "  exec clone/fork-mode clone %.2fx (target <= 1.5x)  anew/exec clone %.1fx\n",
      load_before.c_str(), LoadAverage().c_str(), median["python_anew"], median["python_clone"],
      median["python_floor"], median["python_anew"] / median["python_clone"],
      median["python_clone"] / median["python_floor"], median["sample_anew"],
      median["sample_exec_clone"], median["sample_fork_clone"],
      median["sample_exec_clone"] / median["sample_fork_clone"],
      median["sample_anew"] / median["sample_exec_clone"]);
  std::ofstream(out_dir + "/program_clone.txt") << text;
  std::fputs(text, stdout);
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 60;
  std::string out_dir = ".";
  for (int i = 1; i < argc; ++i) {
    if (const char* value = FlagValue(argv[i], "--rounds")) rounds = std::atoi(value);
    if (const char* value = FlagValue(argv[i], "--out_dir")) out_dir = value;
  }
  const std::string load_before = LoadAverage();
  Launch python;
  python.argv = {"/usr/bin/python3", KV_SERVER_PY, "--port", "{port}", "--warmup-entries",
                 "300000"};
  Launch sample_exec;
  sample_exec.argv = {SAMPLE_SERVER, "--port", "{port}"};
  Launch sample_function;
  sample_function.function = [](gtest_fork_env::ServerContext& context) {
    return sample_server::Serve(context, sample_server::Config{});
  };
  auto python_anew = MakeServer("python-anew", Scope::kBinary, python, false);
  auto python_clone = MakeServer("python-clone", Scope::kTest, python, true);
  auto sample_anew = MakeServer("sample-anew", Scope::kBinary, sample_exec, false);
  auto sample_exec_clone = MakeServer("sample-exec-clone", Scope::kTest, sample_exec, false);
  auto sample_fork_clone = MakeServer("sample-fork-clone", Scope::kTest, sample_function, false);
  PythonFloor python_floor;
  if (!python_floor.Start(FreePort())) return 1;
  for (ServerInstance* server : {python_clone.get(), sample_exec_clone.get(), sample_fork_clone.get()}) {
    if (Fails(server->Start(false)) || Fails(server->EndUnit(false, "bench prime"))) return 1;
  }
  for (ServerInstance* server : {python_anew.get(), sample_anew.get()}) {
    if (Fails(server->Start(false))) return 1;
    server->Stop();
  }
  std::vector<Variant> variants = {
      {"python_anew", AnewCycle(*python_anew, "/value"), {}},
      {"python_clone", CloneCycle(*python_clone, "/value"), {}},
      {"python_floor", [&python_floor] { return python_floor.Cycle(); }, {}},
      {"sample_anew", AnewCycle(*sample_anew, "/healthz"), {}},
      {"sample_exec_clone", CloneCycle(*sample_exec_clone, "/healthz"), {}},
      {"sample_fork_clone", CloneCycle(*sample_fork_clone, "/healthz"), {}},
  };
  for (int round = 0; round < rounds; ++round) {
    for (Variant& variant : variants) {
      const auto t0 = Clock::now();
      if (!variant.cycle()) {
        std::fprintf(stderr, "program_clone_bench: a cycle of %s failed\n", variant.name.c_str());
        return 1;
      }
      variant.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
  }
  for (ServerInstance* server : {python_anew.get(), python_clone.get(), sample_anew.get(),
                                 sample_exec_clone.get(), sample_fork_clone.get()}) {
    server->Finish(true);
  }
  Report(variants, out_dir, load_before);
  return 0;
}
