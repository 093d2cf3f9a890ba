// Bazel's test runner contract (test_runner.h): the functions on their own,
// then whole runs of a test binary, started as a runner would start it, with
// its files pointed into a directory of this test. Runs under ctest and under
// `bazel test` alike; under Bazel the variables it overrides are real.

#include "test_runner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "support/subprocess.h"

namespace {

namespace fs = std::filesystem;
using gtest_fork_env::detail::CopyToUndeclaredOutputs;
using gtest_fork_env::detail::IsRunnerVariable;
using gtest_fork_env::detail::ReportInfrastructureFailure;
using gtest_fork_env::detail::ScrubRunnerVariables;
using gtest_fork_env::detail::TempDir;
using gtest_fork_env::detail::TestTimeoutDeadline;
using test_support::ProcessesWithArgument;
using test_support::RunOptions;
using test_support::RunResult;
using test_support::WaitUntil;
using ::testing::HasSubstr;
using ::testing::Not;

std::string ReadFile(const fs::path& path) {
  std::ifstream file(path);
  return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

// Sets variables for one test and puts the old values back.
class ScopedEnv {
 public:
  ScopedEnv& Set(const std::string& name, const char* value) {
    if (!saved_.count(name)) {
      const char* old = std::getenv(name.c_str());
      saved_[name] = old ? std::optional<std::string>(old) : std::nullopt;
    }
    value ? setenv(name.c_str(), value, 1) : unsetenv(name.c_str());
    return *this;
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) {
      value ? setenv(name.c_str(), value->c_str(), 1) : unsetenv(name.c_str());
    }
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

// A fresh directory for one test, under the runner's temporary directory;
// removed after a passing test, kept to be read after a failing one.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name)
      : path_(fs::path(TempDir()) / ("runner-" + name + "-" + std::to_string(getpid()))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    if (!::testing::Test::HasFailure()) fs::remove_all(path_);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// --- The functions -------------------------------------------------------

TEST(IsRunnerVariable, NamesTheRunnersFilesAndShardSettings) {
  for (const char* entry :
       {"XML_OUTPUT_FILE=/x", "TEST_PREMATURE_EXIT_FILE=/x", "TEST_SHARD_STATUS_FILE=/x",
        "TEST_SHARD_INDEX=0", "TEST_TOTAL_SHARDS=2", "GTEST_SHARD_INDEX=0", "GTEST_TOTAL_SHARDS=2",
        "GTEST_SHARD_STATUS_FILE=/x", "GTEST_OUTPUT=xml:/x", "TEST_UNDECLARED_OUTPUTS_DIR=/x",
        "TEST_UNDECLARED_OUTPUTS_MANIFEST=/x", "TEST_WARNINGS_OUTPUT_FILE=/x",
        "TEST_INFRASTRUCTURE_FAILURE_FILE=/x"}) {
    EXPECT_TRUE(IsRunnerVariable(entry)) << entry;
  }
  for (const char* entry : {"TEST_TMPDIR=/x", "TEST_TIMEOUT=60", "PATH=/bin", "XML_OUTPUT_FILES=1",
                            "GTEST_OUTPUT_X=1", "HOME=/root"}) {
    EXPECT_FALSE(IsRunnerVariable(entry)) << entry;
  }
}

TEST(ScrubRunnerVariables, RemovesThemAndKeepsTheRest) {
  // In a child, so that this test process keeps its own runner's variables.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    setenv("XML_OUTPUT_FILE", "/x", 1);
    setenv("TEST_UNDECLARED_OUTPUTS_DIR", "/x", 1);
    setenv("GTEST_SHARD_INDEX", "1", 1);
    setenv("KEEP_ME", "yes", 1);
    ScrubRunnerVariables();
    const bool scrubbed = !std::getenv("XML_OUTPUT_FILE") &&
                          !std::getenv("TEST_UNDECLARED_OUTPUTS_DIR") &&
                          !std::getenv("GTEST_SHARD_INDEX");
    const char* kept = std::getenv("KEEP_ME");
    _exit(scrubbed && kept && std::string(kept) == "yes" ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(TempDir, PrefersTestTmpdirThenTmpdir) {
  ScopedEnv env;
  env.Set("TEST_TMPDIR", "/runner/tmp").Set("TMPDIR", "/other");
  EXPECT_EQ(TempDir(), "/runner/tmp");
  env.Set("TEST_TMPDIR", nullptr);
  EXPECT_EQ(TempDir(), "/other");
  env.Set("TMPDIR", "");
  EXPECT_EQ(TempDir(), "/tmp");
}

TEST(ReportInfrastructureFailure, AppendsOneLinePerServer) {
  ScratchDir scratch("infra");
  const fs::path file = scratch.path() / "infrastructure_failure";
  ScopedEnv env;
  env.Set("TEST_INFRASTRUCTURE_FAILURE_FILE", file.c_str());
  ReportInfrastructureFailure("api", "server 'api' exited\nLast lines...");
  ReportInfrastructureFailure("db", "server 'db' timed out");
  EXPECT_EQ(ReadFile(file),
            "gtest_fork_env: server 'api' could not be started: server 'api' exited\n"
            "gtest_fork_env: server 'db' could not be started: server 'db' timed out\n");
}

TEST(CopyToUndeclaredOutputs, CopiesUnderTheSameNameOrDoesNothing) {
  ScratchDir scratch("outputs");
  const fs::path& dir = scratch.path();
  const fs::path log = dir / "api-1-abcdef.log";
  std::ofstream(log) << "line one\n";
  ScopedEnv env;
  env.Set("TEST_UNDECLARED_OUTPUTS_DIR", nullptr);
  EXPECT_EQ(CopyToUndeclaredOutputs(log), "");
  fs::create_directories(dir / "outputs");
  env.Set("TEST_UNDECLARED_OUTPUTS_DIR", (dir / "outputs").c_str());
  EXPECT_EQ(CopyToUndeclaredOutputs(log), (dir / "outputs" / "api-1-abcdef.log").string());
  EXPECT_EQ(ReadFile(dir / "outputs" / "api-1-abcdef.log"), "line one\n");
  EXPECT_EQ(CopyToUndeclaredOutputs(""), "");
}

TEST(TestTimeoutDeadline, OnlyWithAValidTestTimeout) {
  using Clock = std::chrono::steady_clock;
  ScopedEnv env;
  env.Set("TEST_TIMEOUT", nullptr);
  EXPECT_EQ(TestTimeoutDeadline(), Clock::time_point::max());
  env.Set("TEST_TIMEOUT", "soon");
  EXPECT_EQ(TestTimeoutDeadline(), Clock::time_point::max());
  env.Set("TEST_TIMEOUT", "100");
  // 90 s after this process started, which was less than 90 s ago.
  EXPECT_GT(TestTimeoutDeadline(), Clock::now());
  EXPECT_LE(TestTimeoutDeadline(), Clock::now() + std::chrono::seconds(90));
}

// --- Whole runs, started as a runner starts them -------------------------

// What Bazel gives a test: every file in `dir`, as if one shard of one.
std::vector<std::string> RunnerEnvironment(const fs::path& dir) {
  fs::create_directories(dir / "tmp");
  fs::create_directories(dir / "outputs");
  return {"TEST_TMPDIR=" + (dir / "tmp").string(),
          "XML_OUTPUT_FILE=" + (dir / "test.xml").string(),
          "GTEST_OUTPUT=xml:" + (dir / "test.xml").string(),
          "TEST_PREMATURE_EXIT_FILE=" + (dir / "premature_exit").string(),
          "TEST_SHARD_STATUS_FILE=" + (dir / "shard_status").string(),
          "GTEST_SHARD_STATUS_FILE=" + (dir / "shard_status").string(),
          "TEST_SHARD_INDEX=0",
          "TEST_TOTAL_SHARDS=1",
          "GTEST_SHARD_INDEX=0",
          "GTEST_TOTAL_SHARDS=1",
          "TEST_UNDECLARED_OUTPUTS_DIR=" + (dir / "outputs").string(),
          "TEST_UNDECLARED_OUTPUTS_MANIFEST=" + (dir / "outputs.manifest").string(),
          "TEST_WARNINGS_OUTPUT_FILE=" + (dir / "warnings").string(),
          "TEST_INFRASTRUCTURE_FAILURE_FILE=" + (dir / "infrastructure_failure").string()};
}

// Runs `binary` from the scenario directory through env(1), so that `env`
// replaces what this process has (under Bazel, the real runner's values),
// with a marker argument, and checks that no process of the run is left.
RunResult RunAsRunner(const std::string& binary, std::vector<std::string> env,
                      RunOptions options = {}) {
  const std::string marker = test_support::UniqueMarker();
  std::vector<std::string> argv = {"/usr/bin/env", "RUNNER_MARKER=" + marker};
  argv.insert(argv.end(), env.begin(), env.end());
  argv.push_back(std::string(SCENARIO_DIR) + "/" + binary);
  argv.push_back(marker);
  RunResult result = test_support::Run(argv, options);
  EXPECT_FALSE(result.timed_out) << result.output;
  EXPECT_TRUE(WaitUntil([&] { return ProcessesWithArgument(marker).empty(); },
                        std::chrono::milliseconds(1000)))
      << "processes of " << binary << " outlived it";
  return result;
}

std::vector<fs::path> FilesIn(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.path().filename().string().rfind(prefix, 0) == 0) files.push_back(entry.path());
  }
  return files;
}

TEST(RunnerRun, NoServerSeesTheRunnersVariablesAndTheRunEndsClean) {
  ScratchDir scratch("clean");
  const fs::path& dir = scratch.path();
  RunResult result = RunAsRunner("runner_contract_test", RunnerEnvironment(dir));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("[  PASSED  ] 5 tests"));
  // Only the test wrote the runner's files: its XML is whole, and no
  // re-executed copy left the premature-exit file behind.
  EXPECT_THAT(ReadFile(dir / "test.xml"), HasSubstr("RunnerContract"));
  EXPECT_FALSE(fs::exists(dir / "premature_exit"));
  EXPECT_FALSE(fs::exists(dir / "infrastructure_failure"));
  // A clean run keeps no log and copies none.
  EXPECT_TRUE(FilesIn(dir / "tmp", "exec-").empty());
  EXPECT_TRUE(fs::is_empty(dir / "outputs"));
}

TEST(RunnerRun, AServerThatCannotStartIsAnInfrastructureFailureWithItsLog) {
  ScratchDir scratch("start");
  const fs::path& dir = scratch.path();
  std::vector<std::string> env = RunnerEnvironment(dir);
  env.push_back("START_FAILURE=exit_code");
  RunResult result = RunAsRunner("scenario_start_failure", env);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(ReadFile(dir / "infrastructure_failure"),
              HasSubstr("gtest_fork_env: server 'failing-exit_code' could not be started: "
                        "server 'failing-exit_code' (pid "));
  const std::vector<fs::path> copies = FilesIn(dir / "outputs", "failing-exit_code-");
  ASSERT_EQ(copies.size(), 1u) << result.output;
  EXPECT_THAT(ReadFile(copies[0]), HasSubstr("server starting in mode exit_code"));
  // The log itself is under TEST_TMPDIR, and the message says where.
  const std::vector<fs::path> logs = FilesIn(dir / "tmp", "failing-exit_code-");
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_THAT(result.output, HasSubstr(logs[0].string()));
}

TEST(RunnerRun, AFailedTestLeavesTheLogInUndeclaredOutputsButNoInfrastructureFailure) {
  ScratchDir scratch("failed");
  const fs::path& dir = scratch.path();
  RunResult result = RunAsRunner("scenario_failing_test", RunnerEnvironment(dir));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_FALSE(fs::exists(dir / "infrastructure_failure"));
  bool found = false;
  for (const fs::path& copy : FilesIn(dir / "outputs", "")) {
    found =
        found || ReadFile(copy).find("handled-request-of-the-failing-test") != std::string::npos;
  }
  EXPECT_TRUE(found) << result.output;
}

TEST(RunnerRun, TestTimeoutCutsTheReadinessWaitShort) {
  ScratchDir scratch("timeout");
  const fs::path& dir = scratch.path();
  std::vector<std::string> env = RunnerEnvironment(dir);
  env.push_back("START_FAILURE=hangs");  // start_timeout 20 s in the scenario
  env.push_back("TEST_TIMEOUT=2");
  RunResult result = RunAsRunner("scenario_start_failure", env);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("was not ready within start_timeout (20.00 s)"));
  EXPECT_THAT(result.output, HasSubstr("gives this test 2 s ($TEST_TIMEOUT)"));
  EXPECT_LT(result.elapsed.count(), 15000) << "the wait ran out start_timeout";
  EXPECT_THAT(ReadFile(dir / "infrastructure_failure"), HasSubstr("failing-hangs"));
}

TEST(RunnerRun, NoProcessOutlivesAKilledTest) {
  ScratchDir scratch("killed");
  const fs::path& dir = scratch.path();
  RunOptions options;
  options.kill_when = [](const std::string& output) {
    return output.find("[ RUN      ]") != std::string::npos;
  };
  RunResult result = RunAsRunner("runner_contract_test", RunnerEnvironment(dir), options);
  EXPECT_EQ(result.signal, 9) << result.output;  // RunAsRunner checked the processes
  EXPECT_THAT(result.output, Not(HasSubstr("[  PASSED  ]")));
}

}  // namespace
