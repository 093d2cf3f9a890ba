// Options::preload_checkpoint from outside: the preload scenario runs real,
// unmodified programs (python3 -m http.server, an http.server.HTTPServer,
// Flask threaded and not, redis-server, a static and a set-user-ID program)
// as a subprocess; each test checks its exit code, its output and that no
// process is left.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "support/subprocess.h"

namespace {

using std::chrono::milliseconds;
using test_support::CountOf;
using test_support::RunOptions;
using test_support::RunResult;
using ::testing::HasSubstr;
using ::testing::Not;

RunResult RunPreload(const std::string& program, std::vector<std::string> args,
                     RunOptions options = {}) {
  args.insert(args.begin(), "--program=" + program);
  return test_support::RunLeavingNothing(PRELOAD_SCENARIO, std::move(args), options);
}

// The "server pid N" lines: one clone per test.
std::set<std::string> ServerPids(const std::string& output) {
  std::set<std::string> pids;
  for (size_t pos = 0; (pos = output.find("server pid ", pos)) != std::string::npos;) {
    pos += 11;
    pids.insert(output.substr(pos, output.find('\n', pos) - pos));
  }
  return pids;
}

class StateIsPerTest : public ::testing::TestWithParam<std::string> {};

TEST_P(StateIsPerTest, NextTestDoesNotSeeWhatATestWrote) {
  RunResult result = RunPreload(GetParam(), {"--gtest_filter=State.*"});
  EXPECT_TRUE(result.exited && result.exit_code == 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("[  PASSED  ] 3 tests.")) << result.output;
  EXPECT_EQ(ServerPids(result.output).size(), 3u) << "a clone per test\n" << result.output;
  // Clones of one warm process, not three starts.
  EXPECT_THAT(result.output, HasSubstr("startups 1\n")) << result.output;
}

TEST_P(StateIsPerTest, ShuffledAndRepeatedEveryTestStartsFresh) {
  RunResult result = RunPreload(GetParam(), {"--gtest_filter=State.*", "--gtest_shuffle",
                                             "--gtest_random_seed=11", "--gtest_repeat=2"});
  // Shuffled, "FirstTestWritesIt" may come last: every test still passes,
  // since none sees another's state.
  EXPECT_TRUE(result.exited && result.exit_code == 0) << result.output;
  EXPECT_EQ(ServerPids(result.output).size(), 6u) << result.output;
}

INSTANTIATE_TEST_SUITE_P(Programs, StateIsPerTest,
                         ::testing::Values("http-server", "stdlib", "flask", "flask-threaded"),
                         [](const auto& info) {
                           std::string name = info.param;
                           name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
                           return name;
                         });

TEST(Preload, NothingItRunsInheritsThePreload) {
  RunOptions options;
  options.env = {"LD_PRELOAD="};  // nothing of the test's own
  RunResult result = RunPreload("stdlib", {"--gtest_filter=Clone.WhatItRuns*"}, options);
  EXPECT_TRUE(result.exited && result.exit_code == 0) << result.output;
}

TEST(Preload, RestartInATestGivesAFreshCloneInTheSameDataDirectory) {
  RunResult result = RunPreload("stdlib", {"--gtest_filter=Clone.Restart*"});
  EXPECT_TRUE(result.exited && result.exit_code == 0) << result.output;
}

TEST(Preload, ThreadedProgramFailsAtOnceNamingTheThreads) {
  if (access("/usr/bin/redis-server", X_OK) != 0) GTEST_SKIP() << "no redis-server";
  RunOptions options;
  options.timeout = milliseconds(30000);
  // A start_timeout longer than the run may take: the failure must come at
  // the checkpoint, not from waiting.
  RunResult result =
      RunPreload("redis", {"--start-timeout-ms=600000", "--gtest_filter=State.*"}, options);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("server 'preloaded'"));
  EXPECT_THAT(result.output, HasSubstr("threads when it first waited for a connection"));
  EXPECT_THAT(result.output, HasSubstr("drop Options::preload_checkpoint"));
  EXPECT_THAT(result.output, HasSubstr("[  FAILED  ] State.FirstTestWritesIt"));
}

TEST(Preload, StaticProgramIsNamedAsSuchAtOnce) {
  RunOptions options;
  options.timeout = milliseconds(30000);
  RunResult result =
      RunPreload("static", {"--start-timeout-ms=600000", "--gtest_filter=Start.*"}, options);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("did not take hold in it: it is statically linked"));
  EXPECT_THAT(result.output, HasSubstr("drop Options::preload_checkpoint"));
}

// A set-user-ID copy of a dynamic program, owned by another user: the
// loader runs it in secure mode and ignores LD_PRELOAD.
TEST(Preload, SetuidProgramIsNamedAsSuchAtOnce) {
  const struct passwd* nobody = getpwnam("nobody");
  if (geteuid() != 0 || !nobody) GTEST_SKIP() << "needs root and a user 'nobody'";
  const std::string dir = ::testing::TempDir() + "/preload-setuid-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  chmod(dir.c_str(), 0755);
  const std::string copy = dir + "/tiny_server";
  std::filesystem::copy_file(TINY_SERVER_DYNAMIC, copy);
  const int changed = chown(copy.c_str(), nobody->pw_uid, nobody->pw_gid);
  if (changed != 0 && (errno == EPERM || errno == EINVAL)) {
    std::filesystem::remove_all(dir);
    // Bazel's sandbox runs the test as root in a user namespace of its own,
    // where 'nobody' may be unmapped (EINVAL) or not ours to give (EPERM).
    GTEST_SKIP() << "chown to 'nobody' is not allowed here (a sandbox); ctest runs this test";
  }
  ASSERT_EQ(changed, 0) << std::strerror(errno);
  ASSERT_EQ(chmod(copy.c_str(), 04755), 0);
  RunOptions options;
  options.timeout = milliseconds(30000);
  RunResult result = RunPreload("setuid=" + copy, {"--start-timeout-ms=600000",
                                                   "--gtest_filter=Start.*"}, options);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("did not take hold in it: it is set-user-ID"));
}

TEST(Preload, ProgramThatNeverWaitsOnItsSocketIsNamedAsSuch) {
  RunResult result = RunPreload("never-waits", {"--start-timeout-ms=1500", "--gtest_filter=Start.*"});
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output,
              HasSubstr("never waited for a connection on a listening TCP socket within "
                        "start_timeout (1.50 s)"));
  EXPECT_THAT(result.output, HasSubstr("listening, never accepting"));  // its log's tail
  EXPECT_THAT(result.output, Not(HasSubstr("did not take hold")));
}

TEST(Preload, IsRefusedForAServerFunction) {
  RunResult result = RunPreload("function", {"--gtest_filter=Start.*"});
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("Options::preload_checkpoint is for a program"));
}

TEST(Preload, IsRefusedUnderBinaryScope) {
  RunResult result = RunPreload("binary-scope", {"--gtest_filter=Start.*"});
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("the scope is Scope::kBinary"));
}

TEST(Preload, KilledBinaryLeavesNeitherTemplateNorClone) {
  RunOptions options;
  options.kill_when = [](const std::string& output) {
    return CountOf(output, "server pid ") >= 2;
  };
  // RunLeavingNothing checks that no process with the run's marker is left.
  RunResult result = RunPreload("flask", {"--gtest_filter=State.*"}, options);
  EXPECT_EQ(result.signal, 9) << result.output;
}

}  // namespace
