// The fault matrix: every way a server or a test binary can fail, run as a
// subprocess. For each case: the run's result is right (a dead server is
// never green), the output names the server and what happened, and no
// process of the run is left, by command-line marker and by process group,
// within one second.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "support/subprocess.h"

namespace {

using std::chrono::milliseconds;
using test_support::ProcessAlive;
using test_support::ProcessesInGroup;
using test_support::ProcessesWithArgument;
using test_support::RunOptions;
using test_support::RunResult;
using test_support::ValueAfter;
using test_support::WaitUntil;
using ::testing::HasSubstr;

struct FaultCase {
  std::string name;
  std::string binary;
  std::string env;             // one "NAME=value"
  int exit_code;               // expected exit code, or -1 with `signal`
  int signal;                  // expected terminating signal, or 0
  std::vector<std::string> output;  // each must appear
  int kill_on_ready = 0;       // send this signal to the binary once it prints READY
};

std::ostream& operator<<(std::ostream& out, const FaultCase& fault) { return out << fault.name; }

const std::vector<FaultCase> kCases = {
    // The server fails.
    {"server_returns_nonzero", "scenario_start_failure", "START_FAILURE=exit_code", 1, 0,
     {"server 'failing-exit_code'", "exited with code 3"}},
    {"server_throws", "scenario_start_failure", "START_FAILURE=throw", 1, 0,
     {"server 'failing-throw'", "the server function threw: boom at start"}},
    {"server_segfaults", "scenario_faults", "FAULT=segfault", 1, 0,
     {"server 'faulty-segfault'", "was killed by SIGSEGV", "  | about to dereference null"}},
    {"server_aborts", "scenario_start_failure", "START_FAILURE=abort", 1, 0,
     {"server 'failing-abort'", "was killed by SIGABRT"}},
    {"server_calls_exit", "scenario_start_failure", "START_FAILURE=calls_exit", 1, 0,
     {"server 'failing-calls_exit'", "exited with code 4"}},
    {"server_hangs_before_binding", "scenario_start_failure", "START_FAILURE=never_ready", 1, 0,
     {"server 'failing-never_ready'", "never reported its port", "It was killed."}},
    {"server_binds_never_answers", "scenario_faults", "FAULT=never_answers", 1, 0,
     {"server 'faulty-never_answers'", "HTTP GET http://127.0.0.1:", "no status line within"}},
    {"server_ignores_sigterm", "scenario_ignores_sigterm", "", 0, 0,
     {"server 'stubborn' did not exit within stop_timeout (200 ms)"}},
    {"grandchild_ignores_sigterm", "scenario_grandchild", "PARENT_ACTION=none", 0, 0,
     {"[  PASSED  ] 1 test"}},
    {"server_closes_its_stdout", "scenario_faults", "FAULT=closes_stdout", 0, 0,
     {"[  PASSED  ] 1 test"}},
    {"server_floods_its_log", "scenario_faults", "FAULT=floods_log", 0, 0,
     {"[  PASSED  ] 1 test"}},
    // The test binary fails.
    {"binary_sigkilled", "scenario_grandchild", "PARENT_ACTION=wait", -1, SIGKILL, {"READY"},
     SIGKILL},
    {"binary_aborts", "scenario_grandchild", "PARENT_ACTION=abort", -1, SIGABRT, {"READY"}},
    {"binary_segfaults", "scenario_grandchild", "PARENT_ACTION=segv", -1, SIGSEGV, {"READY"}},
    {"test_calls_exit", "scenario_grandchild", "PARENT_ACTION=exit", 1, 0,
     {"called exit(0) during test Grandchild.ReportPidsThenEnd while server 'with-grandchild'"}},
    {"binary_throws_out_of_main", "scenario_faults", "FAULT=throws_from_main", -1, SIGABRT,
     {"thrown out of main", "[  PASSED  ] 1 test"}},
};

class FaultMatrix : public ::testing::TestWithParam<FaultCase> {};

// The pids a run printed or named: SERVER_PID, GRANDCHILD_PID, and the
// "(pid N," of every failure message.
std::vector<pid_t> PidsIn(const std::string& output) {
  std::vector<pid_t> pids;
  for (const char* key : {"SERVER_PID", "GRANDCHILD_PID"}) {
    pid_t pid = std::atoi(ValueAfter(output, key).c_str());
    if (pid > 0) pids.push_back(pid);
  }
  std::regex named("\\(pid ([0-9]+),");
  for (auto it = std::sregex_iterator(output.begin(), output.end(), named);
       it != std::sregex_iterator(); ++it) {
    pids.push_back(std::stoi((*it)[1]));
  }
  return pids;
}

TEST_P(FaultMatrix, ResultMessageAndNoProcessLeft) {
  const FaultCase& fault = GetParam();
  const std::string marker = test_support::UniqueMarker();
  RunOptions options;
  if (!fault.env.empty()) options.env = {fault.env};
  options.timeout = milliseconds(30000);
  if (fault.kill_on_ready != 0) {
    options.kill_signal = fault.kill_on_ready;
    options.kill_when = [](const std::string& output) {
      return output.find("READY") != std::string::npos;
    };
  }
  RunResult result = test_support::Run({std::string(SCENARIO_DIR) + "/" + fault.binary, marker},
                                       options);
  ASSERT_FALSE(result.timed_out) << result.output;
  if (fault.signal != 0) {
    EXPECT_EQ(result.signal, fault.signal) << result.output;
  } else {
    EXPECT_TRUE(result.exited) << result.output;
    EXPECT_EQ(result.exit_code, fault.exit_code) << result.output;
  }
  if (fault.exit_code != 0) {
    EXPECT_THAT(result.output, ::testing::Not(HasSubstr("[  SKIPPED ]")));
  }
  for (const std::string& expected : fault.output) {
    EXPECT_THAT(result.output, HasSubstr(expected));
  }

  const pid_t group = std::atoi(ValueAfter(result.output, "SERVER_GROUP").c_str());
  const std::vector<pid_t> pids = PidsIn(result.output);
  EXPECT_TRUE(WaitUntil(
      [&] {
        if (!ProcessesWithArgument(marker).empty()) return false;
        if (group > 0 && !ProcessesInGroup(group).empty()) return false;
        for (pid_t pid : pids) {
          if (ProcessAlive(pid)) return false;
        }
        return true;
      },
      milliseconds(1000)))
      << "left: " << ProcessesWithArgument(marker).size() << " with the marker, "
      << ProcessesInGroup(group).size() << " in group " << group;
}

INSTANTIATE_TEST_SUITE_P(Faults, FaultMatrix, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<FaultCase>& info) {
                           return info.param.name;
                         });

// ctest's own --timeout kills a hung test binary; its server must go too.
TEST(FaultMatrixCtest, BinaryKilledByCtestTimeout) {
  char dir_template[] = "/tmp/gtest_fork_env-timeout-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const std::string marker = test_support::UniqueMarker();
  {
    std::ofstream file(dir + "/CTestTestfile.cmake");
    file << "add_test(hangs \"" << SCENARIO_DIR << "/scenario_faults\" \"" << marker << "\")\n"
         << "set_tests_properties(hangs PROPERTIES TIMEOUT 2 ENVIRONMENT \"FAULT=hangs\")\n";
  }
  RunResult result = test_support::Run({CTEST_COMMAND, "--test-dir", dir, "--output-on-failure"});
  EXPECT_EQ(result.exit_code, 8) << result.output;
  EXPECT_THAT(result.output, HasSubstr("***Timeout"));
  const pid_t server = std::atoi(ValueAfter(result.output, "SERVER_PID").c_str());
  EXPECT_GT(server, 0) << result.output;
  EXPECT_TRUE(WaitUntil([&] { return ProcessesWithArgument(marker).empty() && !ProcessAlive(server); },
                        milliseconds(1000)));
  std::system(("rm -rf '" + dir + "'").c_str());
}

}  // namespace
