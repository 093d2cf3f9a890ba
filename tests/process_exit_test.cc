// What a test process leaves behind, checked from outside:
// - at a normal exit, no zombie, even where PID 1 never reaps (a container
//   without an init): the watchdog is ended and reaped by the test process;
// - SIGKILLed right after the server's SetUp returned, when the watchdog has
//   just been started, nothing of the run outlives it: not the server, not
//   its grandchild that ignores SIGTERM, not the watchdog.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <string>

#include "support/subprocess.h"

namespace {

using std::chrono::milliseconds;
using test_support::ProcessesWithArgument;
using test_support::RunOptions;
using test_support::RunResult;
using test_support::ValueAfter;
using test_support::WaitUntil;

const std::string kScenario = std::string(SCENARIO_DIR) + "/scenario_process_exit";

TEST(ProcessExit, NoZombieWherePid1NeverReaps) {
  ASSERT_EQ(geteuid(), 0u) << "needs root to make a PID namespace (CI runs as root)";
  RunOptions options;
  options.env = {"SERVER=hello"};
  options.timeout = milliseconds(60000);
  RunResult result =
      test_support::Run({UNSHARE, "--pid", "--fork", "--mount-proc", NEVER_REAPING_INIT, "5", kScenario},
          options);
  ASSERT_TRUE(result.exited && result.exit_code == 0) << result.output;
  EXPECT_EQ(ValueAfter(result.output, "PASSED"), "5") << result.output;
  EXPECT_EQ(ValueAfter(result.output, "ZOMBIES"), "0") << result.output;
  EXPECT_EQ(ValueAfter(result.output, "LIVE"), "0") << result.output;
}

// The check has teeth: a process that exits without reaping a child of its
// own does leave a zombie in the same setting.
TEST(ProcessExit, TheZombieCheckSeesAnUnreapedChild) {
  ASSERT_EQ(geteuid(), 0u) << "needs root to make a PID namespace (CI runs as root)";
  RunResult result = test_support::Run({UNSHARE, "--pid", "--fork", "--mount-proc", NEVER_REAPING_INIT, "2",
                          "/bin/sh", "-c", "/bin/true & exec /bin/sleep 0.2"});
  ASSERT_TRUE(result.exited && result.exit_code == 0) << result.output;
  EXPECT_EQ(ValueAfter(result.output, "ZOMBIES"), "2") << result.output;
}

TEST(ProcessExit, SigkillRightAfterSetUpLeavesNothing) {
  for (int round = 0; round < 10; ++round) {
    const std::string marker = test_support::UniqueMarker();
    RunOptions options;
    options.env = {"PROCESS_EXIT=kill_on_setup", "SERVER=grandchild"};
    RunResult result = test_support::Run({kScenario, marker}, options);
    ASSERT_FALSE(result.exited) << result.output;
    ASSERT_EQ(result.signal, SIGKILL) << result.output;
    // The watchdog ends the groups with SIGTERM, then SIGKILL 100 ms later.
    EXPECT_TRUE(WaitUntil([&] { return ProcessesWithArgument(marker).empty(); },
                          milliseconds(2000)))
        << "round " << round << ": " << ProcessesWithArgument(marker).size()
        << " process(es) of the run outlived it\n"
        << result.output;
  }
}

}  // namespace
