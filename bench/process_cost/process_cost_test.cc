// The test binary of the whole-binary benchmark (process_cost_bench): one
// trivial test, the way a user pays for the environment under
// gtest_discover_tests (one process per test).
//
// PROCESS_COST_MODE picks what the binary registers; the binary and so its
// loading cost are the same in every mode:
//   bare  no environment; the test does nothing
//   env       a ForkServerEnv (fork mode, default TcpConnect probe) running
//             the small server; the test sends it one GET, as the floor does
//   env_idle  the same, but the test does not use the server (a test of a
//             binary whose other tests do): TearDown may then come while
//             httplib is still starting its worker threads
//   floor     no ForkServerEnv: an environment written by hand does the
//             floor's steps (bench/floor.h): fork, serve the small server
//             on any port, read the port from a pipe; the test sends the
//             GET; SIGTERM and waitpid. The whole binary's floor.
// (Add a mode here, e.g. a lazily started environment, and pass its name to
// process_cost_bench --modes=...)
//
// PROCESS_COST_TIMES=<file>: appends one line of steady-clock nanoseconds,
// "main setup_begin setup_end test_begin test_end teardown_begin
// teardown_end", so the benchmark can split a run into phases.

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <gtest/gtest.h>
#include <gtest_fork_env/fork_server_env.h>
#include <gtest_fork_env/httplib_server.h>

#include "floor.h"

namespace {

enum Mark { kMain, kSetUpBegin, kSetUpEnd, kTestBegin, kTestEnd, kTearDownBegin, kTearDownEnd,
            kMarks };
long long g_marks[kMarks];
gtest_fork_env::ForkServerEnv* g_env = nullptr;
uint16_t g_floor_port = 0;
bool g_send_get = false;

void MarkNow(Mark mark) {
  g_marks[mark] = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count();
}

void WriteMarks() {
  const char* path = std::getenv("PROCESS_COST_TIMES");
  if (!path) return;
  char line[256];
  int length = 0;
  for (int i = 0; i < kMarks; ++i) {
    length += std::snprintf(line + length, sizeof line - static_cast<size_t>(length), "%lld%c",
                            g_marks[i], i + 1 < kMarks ? ' ' : '\n');
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  ssize_t ignored = write(fd, line, static_cast<size_t>(length));
  (void)ignored;
  close(fd);
}

// Registered first and last: GoogleTest sets environments up in order and
// tears them down in reverse, so these bracket the server's SetUp and
// TearDown.
struct OuterMarks : ::testing::Environment {
  void SetUp() override { MarkNow(kSetUpBegin); }
  void TearDown() override {
    MarkNow(kTearDownEnd);
    WriteMarks();
  }
};
struct InnerMarks : ::testing::Environment {
  void SetUp() override { MarkNow(kSetUpEnd); }
  void TearDown() override { MarkNow(kTearDownBegin); }
};

// The floor by hand: what a user would write without the library.
struct FloorEnv : ::testing::Environment {
  pid_t pid = -1;
  void SetUp() override { ASSERT_TRUE(bench::StartFloorServer(&pid, &g_floor_port)); }
  void TearDown() override {
    if (pid > 0) EXPECT_TRUE(bench::StopFloorServer(pid));
  }
};

int ServeSmallEnv(gtest_fork_env::ServerContext& context) {
  httplib::Server server;
  bench::ConfigureSmallServer(server);
  return gtest_fork_env::ServeHttplib(server, context);
}

TEST(ProcessCost, Trivial) {
  MarkNow(kTestBegin);
  if (g_send_get) EXPECT_TRUE(bench::GetHelloOnce(g_env ? g_env->port() : g_floor_port));
  MarkNow(kTestEnd);
}

}  // namespace

int main(int argc, char** argv) {
  MarkNow(kMain);
  ::testing::InitGoogleTest(&argc, argv);
  const char* mode = std::getenv("PROCESS_COST_MODE");
  const std::string name = mode ? mode : "bare";
  ::testing::AddGlobalTestEnvironment(new OuterMarks);
  if (name == "env" || name == "env_idle") {
    g_send_get = name == "env";
    gtest_fork_env::Options options;
    options.name = "process-cost";
    g_env = new gtest_fork_env::ForkServerEnv(ServeSmallEnv, options);
    ::testing::AddGlobalTestEnvironment(g_env);
  } else if (name == "floor") {
    g_send_get = true;
    ::testing::AddGlobalTestEnvironment(new FloorEnv);
  } else if (name != "bare") {
    std::fprintf(stderr, "process_cost_test: unknown PROCESS_COST_MODE '%s'\n", name.c_str());
    return 64;
  }
  ::testing::AddGlobalTestEnvironment(new InnerMarks);
  return RUN_ALL_TESTS();
}
