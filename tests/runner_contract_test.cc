// Bazel's test runner contract, checked from inside a run that a runner
// started: under `bazel test` (sharded, so every variable is really set) and
// as a subprocess of test_runner_test, which sets the variables Bazel would.
// Three servers, one per way of starting one, each record which of the
// runner's variables they can see.

#include <gtest/gtest.h>
#include <gtest_fork_env/fork_server_env.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "scenarios/servers.h"

extern char** environ;

namespace {

// The runner's files and shard settings (Bazel's test encyclopedia), which
// no server may inherit; TEST_UNDECLARED_OUTPUTS_* is matched as a prefix.
constexpr const char* kPattern =
    "^(XML_OUTPUT_FILE|TEST_PREMATURE_EXIT_FILE|TEST_SHARD_STATUS_FILE|TEST_SHARD_INDEX|"
    "TEST_TOTAL_SHARDS|GTEST_SHARD_INDEX|GTEST_TOTAL_SHARDS|GTEST_SHARD_STATUS_FILE|GTEST_OUTPUT|"
    "TEST_WARNINGS_OUTPUT_FILE|TEST_UNDECLARED_OUTPUTS_[A-Z_]*)=";

// Prints "LEAKED <name>" for each runner variable it can see, then serves.
int ServeReportingEnvironment(gtest_fork_env::ServerContext& context) {
  for (char** entry = environ; *entry; ++entry) {
    const std::string variable(*entry, std::strcspn(*entry, "="));
    for (const char* name :
         {"XML_OUTPUT_FILE", "TEST_PREMATURE_EXIT_FILE", "TEST_SHARD_STATUS_FILE",
          "TEST_SHARD_INDEX", "TEST_TOTAL_SHARDS", "GTEST_SHARD_INDEX", "GTEST_TOTAL_SHARDS",
          "GTEST_SHARD_STATUS_FILE", "GTEST_OUTPUT", "TEST_WARNINGS_OUTPUT_FILE"}) {
      if (variable == name) std::printf("LEAKED %s\n", name);
    }
    if (variable.rfind("TEST_UNDECLARED_OUTPUTS_", 0) == 0) {
      std::printf("LEAKED %s\n", variable.c_str());
    }
  }
  std::printf("environment checked\n");
  std::fflush(stdout);
  return scenarios::ServeHello(context);
}

gtest_fork_env::Options Named(const std::string& name, gtest_fork_env::SpawnMode mode) {
  gtest_fork_env::Options options;
  options.name = name;
  options.spawn_mode = mode;
  return options;
}

// The marker reaches the exec'd shell as an argument, so that
// test_runner_test can find every process of a run.
std::string Marker() {
  const char* marker = std::getenv("RUNNER_MARKER");
  return marker ? marker : "no-marker";
}

gtest_fork_env::ForkServerEnv* Exec() {
  gtest_fork_env::Options options = Named("exec", gtest_fork_env::SpawnMode::kAuto);
  options.probe = gtest_fork_env::Probe::LogLine("^environment checked$");
  const std::string script = std::string("env | grep -E '") + kPattern +
                             "' | sed 's/=.*//; s/^/LEAKED /'; echo environment checked; "
                             "while sleep 1; do :; done";
  return gtest_fork_env::ForkServerEnv::Exec({"/bin/sh", "-c", script, "sh", Marker()}, options);
}

using gtest_fork_env::ForkServerEnv;
using gtest_fork_env::SpawnMode;

auto* const forked = static_cast<ForkServerEnv*>(::testing::AddGlobalTestEnvironment(
    new ForkServerEnv(ServeReportingEnvironment, Named("forked", SpawnMode::kFork))));
auto* const reexec = static_cast<ForkServerEnv*>(::testing::AddGlobalTestEnvironment(
    new ForkServerEnv(ServeReportingEnvironment, Named("reexec", SpawnMode::kReexec))));
auto* const exec = static_cast<ForkServerEnv*>(::testing::AddGlobalTestEnvironment(Exec()));

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

void ExpectNothingLeaked(const ForkServerEnv& env) {
  const std::string log = ReadFile(env.log_path());
  EXPECT_NE(log.find("environment checked"), std::string::npos) << env.log_path() << ":\n" << log;
  EXPECT_EQ(log.find("LEAKED"), std::string::npos) << env.log_path() << ":\n" << log;
}

TEST(RunnerContract, ForkedServerSeesNoRunnerVariable) { ExpectNothingLeaked(*forked); }
TEST(RunnerContract, ReexecutedServerSeesNoRunnerVariable) { ExpectNothingLeaked(*reexec); }
TEST(RunnerContract, ExecutedProgramSeesNoRunnerVariable) { ExpectNothingLeaked(*exec); }

// The scrub is the servers' alone: the test process keeps what the runner
// gave it (gtest still writes its XML and shard status).
TEST(RunnerContract, TheTestProcessKeepsItsVariables) {
  if (!std::getenv("XML_OUTPUT_FILE")) GTEST_SKIP() << "not started by a test runner";
  EXPECT_NE(std::getenv("TEST_TMPDIR"), nullptr);
}

TEST(RunnerContract, LogsAreUnderTestTmpdir) {
  const char* test_tmpdir = std::getenv("TEST_TMPDIR");
  const char* tmpdir = std::getenv("TMPDIR");
  const std::string base = test_tmpdir ? test_tmpdir : tmpdir ? tmpdir : "/tmp";
  for (const ForkServerEnv* env : {forked, reexec, exec}) {
    EXPECT_EQ(env->log_path().rfind(base + "/gtest_fork_env-logs-", 0), 0u) << env->log_path();
  }
}

}  // namespace
