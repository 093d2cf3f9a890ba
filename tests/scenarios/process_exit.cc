// A test binary for process_exit_test: one ForkServerEnv, one test, and an
// exit that PROCESS_EXIT says:
//   normal         a passing run (with SERVER=hello: a server with no child
//                  of its own, so that every process the run leaves behind
//                  is the library's)
//   kill_on_setup  SIGKILL to itself from an environment registered after
//                  the server's, i.e. right after the server's SetUp
//                  returned: the watchdog has just been started and the
//                  server's grandchild just forked.
// SERVER=grandchild (default) serves with a grandchild that ignores SIGTERM.

#include <gtest/gtest.h>
#include <gtest_fork_env/fork_server_env.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "servers.h"

namespace {

std::string Setting(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value ? value : fallback;
}

struct KillRightAfterSetUp : ::testing::Environment {
  void SetUp() override {
    if (Setting("PROCESS_EXIT", "normal") == "kill_on_setup") std::raise(SIGKILL);
  }
};

}  // namespace

TEST(ProcessExit, Passes) { SUCCEED(); }

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  gtest_fork_env::Options options;
  options.name = "process-exit";
  const bool grandchild = Setting("SERVER", "grandchild") == "grandchild";
  ::testing::AddGlobalTestEnvironment(new gtest_fork_env::ForkServerEnv(
      grandchild ? scenarios::ServeWithGrandchild : scenarios::ServeHello, options));
  ::testing::AddGlobalTestEnvironment(new KillRightAfterSetUp);
  return RUN_ALL_TESTS();
}
