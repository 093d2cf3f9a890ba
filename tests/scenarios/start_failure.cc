// A test binary whose server fails to start, in the way START_FAILURE names:
// abort, exit_code, throw, calls_exit, never_ready (never reports a port),
// refuses (reports a port nobody listens on). Run by scenarios_test.

#include <gtest/gtest.h>
#include <gtest_fork_env/fork_server_env.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace {

std::string Mode() {
  const char* mode = std::getenv("START_FAILURE");
  return mode ? mode : "abort";
}

int FailingServer(gtest_fork_env::ServerContext& context) {
  const std::string mode = Mode();
  std::printf("server starting in mode %s\n", mode.c_str());
  std::fflush(stdout);
  if (mode == "abort") std::abort();
  if (mode == "exit_code") return 3;
  if (mode == "throw") throw std::runtime_error("boom at start");
  if (mode == "calls_exit") std::exit(4);
  if (mode == "refuses") {
    context.NotifyListening(1);  // port 1: nothing listens there
  }
  for (int i = 0; i < 60; ++i) sleep(1);  // never_ready: hang, bounded
  return 0;
}

void AtExitOfTheTestBinary() { std::printf("PARENT ATEXIT HANDLER RAN\n"); }

}  // namespace

TEST(StartFailure, First) { SUCCEED(); }
TEST(StartFailure, Second) { SUCCEED(); }

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  std::atexit(AtExitOfTheTestBinary);
  // Left in the stdio buffer on purpose: it must be printed once, not again
  // by the server child.
  std::printf("BUFFERED BEFORE FORK\n");
  gtest_fork_env::Options options;
  options.name = "failing-" + Mode();
  options.start_timeout = std::chrono::milliseconds(
      Mode() == "never_ready" || Mode() == "refuses" ? 300 : 20000);
  ::testing::AddGlobalTestEnvironment(new gtest_fork_env::ForkServerEnv(FailingServer, options));
  return RUN_ALL_TESTS();
}
