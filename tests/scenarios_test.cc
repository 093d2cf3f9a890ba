// Failure paths and gtest flags, checked from outside: each test runs a
// scenario binary as a subprocess, then checks its exit code, its output and
// that no process of that run is left.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <ostream>
#include <iterator>
#include <string>
#include <vector>

#include "support/subprocess.h"

namespace {

using std::chrono::milliseconds;
using test_support::CountOf;
using test_support::ProcessAlive;
using test_support::ProcessesWithArgument;
using test_support::RunOptions;
using test_support::RunResult;
using test_support::UniqueMarker;
using test_support::ValueAfter;
using test_support::WaitUntil;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Scenario(const std::string& name) { return std::string(SCENARIO_DIR) + "/" + name; }

// Runs a scenario with a unique marker argument and checks that, within one
// second of its end, no process carrying the marker is left.
RunResult RunScenario(const std::string& name, std::vector<std::string> args = {},
                      RunOptions options = {}) {
  const std::string marker = UniqueMarker();
  std::vector<std::string> argv = {Scenario(name), marker};
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult result = test_support::Run(argv, options);
  EXPECT_FALSE(result.timed_out) << result.output;
  EXPECT_TRUE(WaitUntil([&] { return ProcessesWithArgument(marker).empty(); }, milliseconds(1000)))
      << "processes of " << name << " left behind: " << ProcessesWithArgument(marker).size();
  return result;
}

std::vector<std::string> Env(const std::string& entry) { return {entry}; }

RunOptions WithEnv(std::vector<std::string> env) {
  RunOptions options;
  options.env = std::move(env);
  return options;
}

// What gtest_discover_tests would leave ctest to judge: a failure, never a
// skip (ctest counts "[  SKIPPED ]" as not failed).
void ExpectFailedNotSkipped(const RunResult& result) {
  EXPECT_TRUE(result.exited) << result.output;
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("[  FAILED  ]"));
  EXPECT_THAT(result.output, Not(HasSubstr("[  SKIPPED ]")));
}

// --- A server that fails to start: one table ------------------------------

// A run of a scenario whose server fails to start: the binary must fail (not
// skip), and its output must say what happened and what to do.
struct FailedStartCase {
  std::string name;                   // the test's name
  std::string scenario;               // binary in SCENARIO_DIR
  std::vector<std::string> env;       // picks the failure
  std::vector<std::string> expected;  // substrings of the output, in any order
  long max_elapsed_ms = 0;            // an early failure does not wait out start_timeout
};

std::ostream& operator<<(std::ostream& out, const FailedStartCase& c) { return out << c.name; }

const std::vector<FailedStartCase> kFailedStarts = {
    // Both tests fail; neither body runs against a dead server. An early exit
    // does not wait out start_timeout (20 s in the scenario).
    {"StartAbort",
     "scenario_start_failure",
     {"START_FAILURE=abort"},
     {"server 'failing-abort'", "was killed by SIGABRT", "before it was ready",
      "  | server starting in mode abort", "What to do:", "[  FAILED  ] StartFailure.First",
      "[  FAILED  ] StartFailure.Second"},
     10000},
    {"StartExitCode",
     "scenario_start_failure",
     {"START_FAILURE=exit_code"},
     {"server 'failing-exit_code'", "exited with code 3 after"}},
    {"StartThrows",
     "scenario_start_failure",
     {"START_FAILURE=throw"},
     {"exited with code 70", "the server function threw: boom at start"}},
    {"StartNeverReady",
     "scenario_start_failure",
     {"START_FAILURE=never_ready"},
     {"was not ready within start_timeout (300 ms)", "never reported its port", "It was killed."}},
    {"StartProbeRefused",
     "scenario_start_failure",
     {"START_FAILURE=refuses"},
     {"TCP connect to 127.0.0.1:1 failed", "Connection refused"}},
    {"ExecMissingProgram",
     "scenario_exec_failure",
     {"EXEC_CASE=missing"},
     {"server 'program-missing' (exec mode) was not started: exec of '/nonexistent/bin/server' "
      "failed: No such file or directory",
      "check the program's path"},
     3000},
    {"ExecProgramExitsAtOnce",
     "scenario_exec_failure",
     {"EXEC_CASE=exits"},
     {"exited with code 2 after", "  | cannot read config /etc/nowhere.conf", "run `/bin/sh -c"}},
    {"ExecNeverReady",
     "scenario_exec_failure",
     {"EXEC_CASE=never_ready"},
     {"was not ready within start_timeout (300 ms): TCP connect to 127.0.0.1:",
      "Connection refused", "  | listening soon on "}},
    {"ExecLogLineNeverSeen",
     "scenario_exec_failure",
     {"EXEC_CASE=never_logs"},
     {"waiting for a line of its output to match /ready to accept/ failed",
      "failed: no line of its output matched on all"}},
    {"ExecDaemonizes",
     "scenario_exec_failure",
     {"EXEC_CASE=daemonizes"},
     {"exited with code 0 after",
      "the program daemonized (forked into the background and exited). Those processes were "
      "killed.",
      "run it in the foreground"}},
    {"ExecUnknownPlaceholder",
     "scenario_exec_failure",
     {"EXEC_CASE=unknown_placeholder"},
     {"unknown placeholder {upstream.port}: no server named 'upstream' was started before this "
      "one"}},
};

class FailedStart : public ::testing::TestWithParam<FailedStartCase> {};

TEST_P(FailedStart, FailsNotSkipsAndSaysWhatHappened) {
  const FailedStartCase& c = GetParam();
  RunResult result = RunScenario(c.scenario, {}, WithEnv(c.env));
  ExpectFailedNotSkipped(result);
  for (const std::string& expected : c.expected) {
    EXPECT_THAT(result.output, HasSubstr(expected));
  }
  if (c.max_elapsed_ms > 0) {
    EXPECT_LT(result.elapsed.count(), c.max_elapsed_ms);
  }
}

INSTANTIATE_TEST_SUITE_P(Scenarios, FailedStart, ::testing::ValuesIn(kFailedStarts),
                         [](const ::testing::TestParamInfo<FailedStartCase>& info) {
                           return info.param.name;
                         });

// --- A server that fails to start: the cases with checks of their own -------

TEST(StartFailure, ExitInTheServerRunsNoHandlerOfTheTestBinary) {
  RunResult result =
      RunScenario("scenario_start_failure", {}, WithEnv(Env("START_FAILURE=calls_exit")));
  ExpectFailedNotSkipped(result);
  EXPECT_THAT(result.output, HasSubstr("exited with code 4"));
  // Printed once by the test binary itself, never by the server child: not
  // the atexit handler, and not the stdio buffer that was pending at fork.
  EXPECT_EQ(CountOf(result.output, "PARENT ATEXIT HANDLER RAN"), 1u) << result.output;
  EXPECT_EQ(CountOf(result.output, "BUFFERED BEFORE FORK"), 1u) << result.output;
  EXPECT_THAT(result.output, Not(HasSubstr("  | PARENT ATEXIT")));
  EXPECT_THAT(result.output, Not(HasSubstr("  | BUFFERED BEFORE FORK")));
}

TEST(StartFailure, CtestReportsFailedNotSkipped) {
  // The same settings gtest_discover_tests writes for each test, run by a
  // real ctest.
  char dir_template[] = "/tmp/gtest_fork_env-ctest-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  {
    std::ofstream file(dir + "/CTestTestfile.cmake");
    file << "add_test(StartFailure.First \"" << Scenario("scenario_start_failure")
         << "\" \"--gtest_filter=StartFailure.First\")\n"
         << "set_tests_properties(StartFailure.First PROPERTIES "
         << "SKIP_REGULAR_EXPRESSION \"\\\\[  SKIPPED \\\\]\" "
         << "ENVIRONMENT \"START_FAILURE=abort\")\n";
  }
  RunResult result = test_support::Run({CTEST_COMMAND, "--test-dir", dir, "--output-on-failure"});
  EXPECT_EQ(result.exit_code, 8) << result.output;  // ctest: some test failed
  EXPECT_THAT(result.output, HasSubstr("0% tests passed, 1 tests failed out of 1"));
  EXPECT_THAT(result.output, Not(HasSubstr("Skipped")));
  std::system(("rm -rf '" + dir + "'").c_str());
}

// --- A server that dies while the tests run -----------------------------

TEST(DiesMidrun, FailsTheTestDuringWhichItDiedAndEveryLaterOne) {
  RunResult result = RunScenario("scenario_dies_midrun");
  ExpectFailedNotSkipped(result);
  EXPECT_THAT(result.output, HasSubstr("server 'mortal'"));
  EXPECT_THAT(result.output, HasSubstr("died during test Midrun.KillsServer"));
  EXPECT_THAT(result.output, HasSubstr("exited with code 3"));
  EXPECT_THAT(result.output, HasSubstr("  | server exits with code 3 as asked"));
  EXPECT_THAT(result.output, HasSubstr("[  FAILED  ] Midrun.KillsServer"));
  EXPECT_THAT(result.output, HasSubstr("[  FAILED  ] Midrun.RunsAfterDeath"));
  EXPECT_THAT(result.output, Not(HasSubstr("BODY OF RunsAfterDeath RAN")));
}

// --- Stopping -------------------------------------------------------------

TEST(Stop, ServerIgnoringSigtermIsKilledAfterStopTimeout) {
  RunResult result = RunScenario("scenario_ignores_sigterm");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("did not exit within stop_timeout (200 ms)"));
  pid_t server = std::atoi(ValueAfter(result.output, "SERVER_PID").c_str());
  ASSERT_GT(server, 0);
  EXPECT_FALSE(ProcessAlive(server));
}

TEST(Stop, GrandchildIgnoringSigtermDiesWithTheGroup) {
  RunResult result = RunScenario("scenario_grandchild");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  pid_t server = std::atoi(ValueAfter(result.output, "SERVER_PID").c_str());
  pid_t grandchild = std::atoi(ValueAfter(result.output, "GRANDCHILD_PID").c_str());
  ASSERT_GT(server, 0);
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(WaitUntil([&] { return !ProcessAlive(grandchild); }, milliseconds(1000)));
  EXPECT_FALSE(ProcessAlive(server));
}

// --- The test binary dies: no orphan --------------------------------------

void ExpectServerAndGrandchildGoneAfter(const std::string& action, int kill_signal = 0) {
  RunOptions options = WithEnv(Env("PARENT_ACTION=" + action));
  if (kill_signal != 0) {
    options.kill_signal = kill_signal;
    options.kill_when = [](const std::string& output) {
      return output.find("READY") != std::string::npos;
    };
  }
  RunResult result = RunScenario("scenario_grandchild", {}, options);
  pid_t server = std::atoi(ValueAfter(result.output, "SERVER_PID").c_str());
  pid_t grandchild = std::atoi(ValueAfter(result.output, "GRANDCHILD_PID").c_str());
  ASSERT_GT(server, 0) << result.output;
  ASSERT_GT(grandchild, 0) << result.output;
  EXPECT_TRUE(WaitUntil([&] { return !ProcessAlive(server) && !ProcessAlive(grandchild); },
                        milliseconds(1000)))
      << "after " << action << ": server alive " << ProcessAlive(server) << ", grandchild alive "
      << ProcessAlive(grandchild);
}

TEST(NoOrphan, TestBinaryKilledWithSigkill) {
  ExpectServerAndGrandchildGoneAfter("wait", SIGKILL);
}
TEST(NoOrphan, TestBinaryAborts) { ExpectServerAndGrandchildGoneAfter("abort"); }
TEST(NoOrphan, TestBinarySegfaults) { ExpectServerAndGrandchildGoneAfter("segv"); }
TEST(NoOrphan, TestCallsExit) { ExpectServerAndGrandchildGoneAfter("exit"); }

TEST(ExitDuringTests, FailsTheRunAndNamesTheTest) {
  RunResult result = RunScenario("scenario_grandchild", {}, WithEnv(Env("PARENT_ACTION=exit")));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output,
              HasSubstr("gtest_fork_env: the test binary called exit(0) during test "
                        "Grandchild.ReportPidsThenEnd while server 'with-grandchild' was up; the "
                        "tests after it did not run. Failing the run."));
}

// --- GoogleTest flags -------------------------------------------------------

constexpr const char* kStartLine = "starting in fork mode";

RunOptions Debug(std::vector<std::string> more = {}) {
  more.push_back("SPDLOG_LEVEL=debug");
  return WithEnv(std::move(more));
}

TEST(Flags, ListTestsStartsNoServer) {
  RunResult result = RunScenario("fork_server_env_test", {"--gtest_list_tests"}, Debug());
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("ServerAnswersOverHttp"));
  EXPECT_THAT(result.output, Not(HasSubstr("starting in")));
}

TEST(Flags, RepeatKeepsOneServer) {
  RunResult result = RunScenario("fork_server_env_test", {"--gtest_repeat=3"}, Debug());
  EXPECT_EQ(result.exit_code, 0) << result.output;
  // One for the binary; the threadsafe death test's child starts its own in
  // each iteration, with stderr captured by gtest.
  EXPECT_EQ(CountOf(result.output, "server 'hello': " + std::string(kStartLine)), 1u)
      << result.output;
}

TEST(Flags, RepeatWithRecreateStartsOneServerPerIteration) {
  RunResult result = RunScenario(
      "fork_server_env_test",
      {"--gtest_repeat=3", "--gtest_recreate_environments_when_repeating"}, Debug());
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(CountOf(result.output, "server 'hello': " + std::string(kStartLine)), 3u)
      << result.output;
}

TEST(Flags, ShufflePasses) {
  RunResult result =
      RunScenario("fork_server_env_test", {"--gtest_shuffle", "--gtest_repeat=2"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

TEST(Flags, ShardsRunEveryTestOnceAndAnEmptyShardStartsNothing) {
  size_t passed = 0;
  for (int shard = 0; shard < 3; ++shard) {
    RunResult result = RunScenario(
        "fork_server_env_test", {},
        Debug({"GTEST_TOTAL_SHARDS=3", "GTEST_SHARD_INDEX=" + std::to_string(shard)}));
    EXPECT_EQ(result.exit_code, 0) << result.output;
    passed += CountOf(result.output, "[       OK ]");
  }
  EXPECT_EQ(passed, 8u);
  RunResult empty = RunScenario("fork_server_env_test", {},
                                Debug({"GTEST_TOTAL_SHARDS=50", "GTEST_SHARD_INDEX=49"}));
  EXPECT_EQ(empty.exit_code, 0) << empty.output;
  EXPECT_THAT(empty.output, Not(HasSubstr("starting in")));
}

TEST(Flags, ThreadedBinaryUsesReexecMode) {
  RunResult result = RunScenario("reexec_test", {}, Debug());
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("server 'reexec': starting in re-exec mode (2 thread(s)"));
}

TEST(Flags, PassingRunIsQuietAndRemovesItsLog) {
  RunResult result = RunScenario("fork_server_env_test", {"--gtest_filter=*ServerAnswers*"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, Not(HasSubstr("[gtest_fork_env]")));
}

// --- Programs (exec mode) -------------------------------------------------

RunResult RunExecCase(const std::string& which, std::vector<std::string> env = {}) {
  env.push_back("EXEC_CASE=" + which);
  return RunScenario("scenario_exec_failure", {}, WithEnv(env));
}

TEST(ExecFailure, ProgramIgnoringSigtermIsKilled) {
  RunResult result = RunExecCase("ignores_sigterm");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("did not exit within stop_timeout (300 ms)"));
  pid_t server = std::atoi(ValueAfter(result.output, "SERVER_PID").c_str());
  ASSERT_GT(server, 0);
  EXPECT_FALSE(ProcessAlive(server));
}

// redis-server --daemonize yes forks, and its child calls setsid(). Which of
// two true stories the library tells depends on when it looks: the child
// still in the process group (killed, and said so), or already in a session
// of its own (out of reach: found answering on the port, and said so).
TEST(ExecFailure, DaemonInANewSessionIsNamedAsOutOfReach) {
  char dir_template[] = "/tmp/gtest_fork_env-redis-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string pidfile = std::string(dir_template) + "/redis.pid";
  RunResult result = RunExecCase("daemonizes_setsid", {"PIDFILE=" + pidfile});
  const bool killed_in_group = result.output.find("of its process group kept running") !=
                               std::string::npos;
  pid_t daemon = 0;
  WaitUntil(
      [&] {
        std::ifstream file(pidfile);
        file >> daemon;
        return daemon > 0;
      },
      milliseconds(killed_in_group ? 200 : 5000));
  if (daemon > 0) kill(daemon, SIGKILL);  // the library could not: stop it here
  std::system(("rm -rf '" + std::string(dir_template) + "'").c_str());
  ExpectFailedNotSkipped(result);
  EXPECT_THAT(result.output, HasSubstr("exited with code 0 after"));
  EXPECT_THAT(result.output, HasSubstr("redis-server: --daemonize no"));
  if (killed_in_group) {
    EXPECT_THAT(result.output, HasSubstr("the program daemonized (forked into the background "
                                         "and exited). Those processes were killed."));
  } else {
    EXPECT_GT(daemon, 0) << "redis wrote no pid file";
    EXPECT_THAT(result.output, HasSubstr("Something still answers on its port: it probably "
                                         "daemonized into a session of its own"));
  }
}

// --- Several servers, restarts, per-test logs -----------------------------

TEST(SeveralServers, StartInRegistrationOrderAndStopInReverse) {
  char path[] = "/tmp/gtest_fork_env-order-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  RunResult result =
      RunScenario("scenario_two_servers", {}, WithEnv(Env(std::string("ORDER_FILE=") + path)));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  std::ifstream file(path);
  std::string order((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  unlink(path);
  EXPECT_EQ(order, "start upstream\nstart api\nstop api\nstop upstream\n");
}

TEST(Restarts, WholeBinaryShuffledAlwaysFindsARunningServer) {
  RunResult result = RunScenario("restart_test", {"--gtest_shuffle", "--gtest_repeat=3"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(CountOf(result.output, "[       OK ]"), 18u) << result.output;
}

TEST(FailedTest, ShowsWhatTheServerWroteDuringItAndRecordsTheLogPath) {
  char path[] = "/tmp/gtest_fork_env-report-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  RunResult result =
      RunScenario("scenario_failing_test", {std::string("--gtest_output=xml:") + path});
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("[gtest_fork_env] server 'chatty' wrote during this test "
                                       "(whole log: "));
  EXPECT_THAT(result.output, HasSubstr("  | handled-request-of-the-failing-test"));
  // Only for the failed test: the passing one shows nothing.
  EXPECT_EQ(CountOf(result.output, "wrote during this test"), 1u) << result.output;
  std::ifstream file(path);
  std::string xml((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  unlink(path);
  EXPECT_THAT(xml, HasSubstr("gtest_fork_env_log_chatty"));
  EXPECT_THAT(xml, HasSubstr("/gtest_fork_env-logs-"));  // LogDirectory()
  EXPECT_THAT(xml, HasSubstr("/chatty-"));
}

}  // namespace
