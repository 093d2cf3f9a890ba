// Scope::kTest and kTestSuite from outside: each test runs the
// per_test_scope scenario as a subprocess and checks its result, its output,
// its files and that none of its processes is left.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "support/subprocess.h"

namespace {

using std::chrono::milliseconds;
using test_support::CountOf;
using test_support::ProcessesWithArgument;
using test_support::RunOptions;
using test_support::RunResult;
using test_support::UniqueMarker;
using test_support::WaitUntil;
using ::testing::HasSubstr;

RunResult RunBinary(const std::string& binary, std::vector<std::string> args,
                    RunOptions options = {}) {
  return test_support::RunLeavingNothing(binary, std::move(args), options);
}

RunResult RunScenario(std::vector<std::string> args, RunOptions options = {}) {
  return RunBinary(PER_TEST_SCOPE_SCENARIO, std::move(args), std::move(options));
}

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/scope_test-" + std::to_string(getpid()) + "-" + name;
}

size_t LinesIn(const std::string& path) {
  std::ifstream file(path);
  std::string all((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  return CountOf(all, "\n");
}

// The "pid N port P" lines the isolation tests print.
std::set<std::string> Values(const std::string& output, const std::string& key) {
  std::set<std::string> values;
  size_t pos = 0;
  while ((pos = output.find(key + " ", pos)) != std::string::npos) {
    pos += key.size() + 1;
    values.insert(output.substr(pos, output.find_first_of(" \n", pos) - pos));
  }
  return values;
}

struct IsolationCase {
  const char* name;
  std::vector<std::string> args;
};

void PrintTo(const IsolationCase& isolation_case, std::ostream* out) {
  *out << isolation_case.name;
}

class Isolation : public ::testing::TestWithParam<IsolationCase> {};

TEST_P(Isolation, EveryTestSeesAFreshServerOnOneAddress) {
  std::vector<std::string> args = GetParam().args;
  args.push_back("--gtest_filter=Isolation.*");
  RunResult result = RunScenario(args);
  EXPECT_TRUE(result.exited && result.exit_code == 0) << result.output;
  const size_t tests = CountOf(result.output, "[       OK ] Isolation.");
  EXPECT_GE(tests, 4u) << result.output;
  EXPECT_EQ(Values(result.output, "pid").size(), tests) << "one server process per test\n"
                                                        << result.output;
  EXPECT_EQ(Values(result.output, "port").size(), 1u) << "one port for all\n" << result.output;
}

INSTANTIATE_TEST_SUITE_P(
    Orders, Isolation,
    ::testing::Values(IsolationCase{"InOrder", {}},
                      IsolationCase{"Shuffled", {"--gtest_shuffle", "--gtest_random_seed=7"}},
                      IsolationCase{"ShuffledOtherwise", {"--gtest_shuffle", "--gtest_random_seed=3"}},
                      IsolationCase{"Repeated", {"--gtest_repeat=3"}},
                      IsolationCase{"Reexecuted", {"--spawn=reexec"}},
                      IsolationCase{"LinkedProgram", {"--spawn=exec-linked"}},
                      IsolationCase{"LinkedProgramShuffled",
                                    {"--spawn=exec-linked", "--gtest_shuffle", "--gtest_random_seed=5"}},
                      IsolationCase{"LinkedProgramRepeated", {"--spawn=exec-linked", "--gtest_repeat=3"}},
                      IsolationCase{"PreloadedProgram", {"--spawn=exec-preload"}},
                      IsolationCase{"PreloadedProgramShuffled",
                                    {"--spawn=exec-preload", "--gtest_shuffle", "--gtest_random_seed=5"}},
                      IsolationCase{"PreloadedProgramRepeated", {"--spawn=exec-preload", "--gtest_repeat=3"}},
                      IsolationCase{"NeverCheckpointed", {"--no-checkpoint"}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Scope, ServerWithoutCheckpointStartsFromScratchForEachTest) {
  const std::string counter = TempPath("scratch");
  RunResult result = RunScenario(
      {"--no-checkpoint", "--warmup-file=" + counter, "--gtest_filter=Isolation.*"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(LinesIn(counter), 4u) << result.output;
  unlink(counter.c_str());
}

// A program that neither links the library nor has it preloaded is
// started anew for each test.
TEST(Scope, PlainProgramStartsFromScratchForEachTest) {
  const std::string counter = TempPath("plain-program");
  RunResult result = RunScenario(
      {"--spawn=exec-plain", "--warmup-file=" + counter, "--gtest_filter=Isolation.*"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(LinesIn(counter), 4u) << result.output;
  unlink(counter.c_str());
}

// The contract of a template, for each kind of server that can be one: a
// server function (fork mode), a program that links the server side and
// reaches Checkpoint() through ServeHttplib, and an unmodified Python
// program under Options::preload_checkpoint.
struct KindCase {
  const char* name;
  std::vector<std::string> spawn;  // the scenario's --spawn flag, if any
  const char* mode;                // how messages name the template's mode
  const char* threads_message;     // what a threaded template is told
  const char* threads_advice;
};

void PrintTo(const KindCase& kind_case, std::ostream* out) { *out << kind_case.name; }

class TemplateKind : public ::testing::TestWithParam<KindCase> {
 protected:
  RunResult Run(std::vector<std::string> args, RunOptions options = {}) {
    args.insert(args.begin(), GetParam().spawn.begin(), GetParam().spawn.end());
    return RunScenario(std::move(args), std::move(options));
  }
  std::string Temp(const std::string& what) { return TempPath(what + "-" + GetParam().name); }
};

TEST_P(TemplateKind, WarmUpBeforeTheCheckpointRunsOnce) {
  const std::string counter = Temp("warmups");
  RunResult result = Run({"--warmup-file=" + counter, "--gtest_filter=Isolation.*"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(LinesIn(counter), 1u) << result.output;
  unlink(counter.c_str());
}

TEST_P(TemplateKind, ListingTheTestsStartsNothing) {
  const std::string counter = Temp("listed");
  RunResult result = Run({"--warmup-file=" + counter, "--gtest_list_tests"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("Isolation."));
  EXPECT_EQ(access(counter.c_str(), F_OK), -1) << "a server was started";
}

TEST_P(TemplateKind, CrashFailsOnlyTheTestItHappenedIn) {
  RunResult result = Run({"--gtest_filter=Crash.*"});
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("[  FAILED  ] Crash.ServerDiesDuringThisTest"));
  EXPECT_THAT(result.output, HasSubstr("[       OK ] Crash.NextTestGetsAFreshServer"));
  EXPECT_THAT(result.output, HasSubstr("died during test Crash.ServerDiesDuringThisTest"));
  EXPECT_THAT(result.output, HasSubstr("SIGABRT"));
  EXPECT_THAT(result.output, HasSubstr("crashing as asked"));
  EXPECT_THAT(result.output, HasSubstr("The next test gets a fresh server."));
  EXPECT_EQ(CountOf(result.output, "1 FAILED TEST"), 1u) << result.output;
}

TEST_P(TemplateKind, ThreadedTemplateFailsAtOnceNamingTheThreads) {
  // A start_timeout far longer than the run may take: a run that waited for
  // it, instead of failing at the checkpoint, ends in the subprocess timeout.
  RunOptions options;
  options.timeout = milliseconds(30000);
  RunResult result = Run({"--thread-before-checkpoint", "--start-timeout-ms=600000",
                          "--gtest_filter=Isolation.First"},
                         options);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr(GetParam().threads_message));
  EXPECT_THAT(result.output, HasSubstr(GetParam().threads_advice));
  EXPECT_THAT(result.output, HasSubstr("[  FAILED  ] Isolation.First"));
}

// The message names the template's pid, not the last clone's.
TEST_P(TemplateKind, LostTemplateIsNamedInTheNextTest) {
  const std::string counter = Temp("lost-template");
  RunResult result = Run({"--warmup-file=" + counter, "--gtest_filter=LostTemplate.*"});
  EXPECT_EQ(result.exit_code, 1) << result.output;
  std::ifstream file(counter);
  std::string template_pid;
  ASSERT_TRUE(file >> template_pid) << result.output;
  EXPECT_THAT(result.output, HasSubstr("server 'scoped' (pid " + template_pid + ", " +
                                       GetParam().mode));
  EXPECT_THAT(result.output, HasSubstr("is gone: its template was killed by SIGKILL"));
  EXPECT_THAT(result.output, HasSubstr("[  FAILED  ] LostTemplate.NextTestGetsNoClone"));
  unlink(counter.c_str());
}

TEST_P(TemplateKind, SuiteScopeSharesAServerWithinASuiteOnly) {
  RunResult result = Run({"--scope=suite", "--gtest_filter=SuiteA.*:SuiteB.*"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("[  PASSED  ] 3 tests."));
}

TEST_P(TemplateKind, KilledBinaryLeavesNeitherTemplateNorClone) {
  RunOptions options;
  options.kill_when = [](const std::string& output) {
    return output.find("hanging in pid") != std::string::npos;
  };
  // RunScenario checks that no process with the run's marker is left (the
  // scenario passes its marker to the programs too).
  RunResult result = Run({"--gtest_filter=Hang.*"}, options);
  EXPECT_EQ(result.signal, 9) << result.output;
  EXPECT_THAT(result.output, HasSubstr("hanging in pid"));
}

INSTANTIATE_TEST_SUITE_P(
    EveryKind, TemplateKind,
    ::testing::Values(
        KindCase{"Function", {}, "fork mode",
                 "reached ServerContext::Checkpoint() with 2 threads", "start threads"},
        KindCase{"LinkedProgram", {"--spawn=exec-linked"}, "exec mode",
                 "reached ServerContext::Checkpoint() with 2 threads", "start threads"},
        KindCase{"PreloadedProgram", {"--spawn=exec-preload"}, "exec mode",
                 "had 2 threads when it first waited for a connection",
                 "drop Options::preload_checkpoint"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace

namespace {

RunResult RunLazy(std::vector<std::string> args) {
  return RunBinary(LAZY_START_SCENARIO, std::move(args));
}

TEST(LazyStart, TestsThatDoNotAskStartNothing) {
  const std::string starts = TempPath("lazy-none");
  RunResult result = RunLazy({"--starts-file=" + starts, "--gtest_filter=*DoesNotAsk*:*Another*"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(access(starts.c_str(), F_OK), -1) << "the lazy server was started";
}

TEST(LazyStart, FirstUseStartsItOnce) {
  const std::string starts = TempPath("lazy-once");
  RunResult result = RunLazy({"--starts-file=" + starts});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(LinesIn(starts), 1u) << result.output;
  unlink(starts.c_str());
}

TEST(LazyStart, UnderPerTestScopeTheTemplateStartsOnceOnFirstUse) {
  const std::string starts = TempPath("lazy-scoped");
  RunResult result = RunLazy({"--starts-file=" + starts, "--scope=test", "--gtest_repeat=2"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  // The template once; a clone is no new start of the function.
  EXPECT_EQ(LinesIn(starts), 1u) << result.output;
  unlink(starts.c_str());
}

TEST(LazyStart, FailureIsReportedInTheTestThatAsked) {
  const std::string starts = TempPath("lazy-broken");
  RunResult result = RunLazy({"--starts-file=" + starts, "--broken"});
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("[  FAILED  ] Lazy.TestThatAsksGetsTheServer"));
  EXPECT_THAT(result.output, HasSubstr("[       OK ] Lazy.TestThatDoesNotAskStartsNothing"));
  EXPECT_THAT(result.output, HasSubstr("[       OK ] Lazy.AnotherTestThatDoesNotAsk"));
  EXPECT_THAT(result.output,
              HasSubstr("server 'lazy' (Options::lazy_start) failed to start when first used:\n"
                        "server 'lazy' (pid "));
  EXPECT_THAT(result.output, HasSubstr("exited with code 3"));
  EXPECT_THAT(result.output, HasSubstr("broken on purpose"));
  unlink(starts.c_str());
}

}  // namespace

namespace {

// A failed run keeps its data directories for a look; they must not pile up.
TEST(Scope, DataDirectoriesOfFailedRunsAreBounded) {
  const std::string tmpdir = TempPath("tmpdir");
  ASSERT_EQ(mkdir(tmpdir.c_str(), 0700), 0);
  RunOptions options;
  // Both: under Bazel the library prefers $TEST_TMPDIR (test_runner.h).
  options.env = {"TMPDIR=" + tmpdir, "TEST_TMPDIR=" + tmpdir};
  for (int run = 0; run < 7; ++run) {
    RunResult result = RunScenario({"--gtest_filter=Crash.*"}, options);
    ASSERT_EQ(result.exit_code, 1) << result.output;
  }
  size_t kept = 0;
  for (const auto& entry : std::filesystem::directory_iterator(tmpdir)) {
    kept += entry.path().filename().string().find("-data-") != std::string::npos;
  }
  EXPECT_GE(kept, 1u);
  EXPECT_LE(kept, 5u);
  std::filesystem::remove_all(tmpdir);
}

}  // namespace
