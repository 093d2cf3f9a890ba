// Soak: many start/stop cycles in one process, and hundreds of test
// processes under ctest at once. Afterwards descriptors, threads, child
// processes and temporary files are what they were before. Prints the
// counts it compared.

#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <set>
#include <string>

#include "gtest_fork_env/fork_server_env.h"
#include "checkpoint.h"
#include "process.h"
#include "server_instance.h"
#include "scenarios/servers.h"
#include "support/subprocess.h"

namespace {

using std::chrono::milliseconds;

// Where the library keeps logs when TMPDIR is `temp_dir` (LogDirectory()).
std::string LogsIn(const std::string& temp_dir) {
  return temp_dir + "/gtest_fork_env-logs-" + std::to_string(geteuid());
}

size_t CountEntries(const std::string& dir) {
  size_t count = 0;
  if (DIR* handle = opendir(dir.c_str())) {
    while (struct dirent* entry = readdir(handle)) {
      if (entry->d_name[0] != '.') ++count;
    }
    closedir(handle);
  }
  return count;
}

// Live children of this process, from the ppid field of /proc/*/stat.
size_t CountChildren() {
  size_t count = 0;
  DIR* proc = opendir("/proc");
  while (struct dirent* entry = proc ? readdir(proc) : nullptr) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    std::ifstream stat(std::string("/proc/") + entry->d_name + "/stat");
    std::string line;
    std::getline(stat, line);
    size_t paren = line.rfind(')');
    char state = 0;
    long ppid = 0;
    if (paren != std::string::npos &&
        std::sscanf(line.c_str() + paren + 1, " %c %ld", &state, &ppid) == 2 &&
        ppid == getpid()) {
      ++count;
    }
  }
  if (proc) closedir(proc);
  return count;
}

struct Counts {
  size_t fds, threads, children, temp_files;
};

Counts Measure(const std::string& temp_dir) {
  return {CountEntries("/proc/self/fd"), gtest_fork_env::detail::CountThreads(), CountChildren(),
          CountEntries(LogsIn(temp_dir))};
}

// The record of every test that did not pass in ctest's LastTest.log under
// `build_dir`: its command, its whole output and how it ended. A block
// starts at "<n>/<total> Testing: <name>" and ends where the next starts.
std::string FailedTestRecords(const std::string& build_dir) {
  std::ifstream log(build_dir + "/Testing/Temporary/LastTest.log");
  if (!log) return "(no " + build_dir + "/Testing/Temporary/LastTest.log)\n";
  const std::regex block_start("^[0-9]+/[0-9]+ Testing: ");
  std::string failed, block, line;
  auto end_block = [&] {
    if (!block.empty() && block.find("\nTest Passed.\n") == std::string::npos) failed += block;
    block.clear();
  };
  while (std::getline(log, line)) {
    if (std::regex_search(line, block_start)) end_block();
    if (!block.empty() || std::regex_search(line, block_start)) block += line + "\n";
  }
  end_block();
  return failed;
}

// ctest's output from its "...% tests passed" line on (which lists the
// failed tests), or its last 4,000 characters when it has none.
std::string CtestSummary(const std::string& output) {
  const size_t summary = output.rfind("% tests passed");
  if (summary == std::string::npos) {
    return output.substr(output.size() > 4000 ? output.size() - 4000 : 0);
  }
  const size_t line = output.rfind('\n', summary);
  return output.substr(line == std::string::npos ? 0 : line + 1);
}

std::string MakeTempDir() {
  char dir[] = "/tmp/gtest_fork_env-soak-XXXXXX";
  return mkdtemp(dir) ? dir : "";
}

TEST(Soak, TwoThousandSetUpTearDownCyclesLeakNothing) {
  const std::string temp_dir = MakeTempDir();
  ASSERT_FALSE(temp_dir.empty());
  setenv("TMPDIR", temp_dir.c_str(), 1);
  gtest_fork_env::Options options;
  options.name = "soak";
  gtest_fork_env::ForkServerEnv env(scenarios::ServeHello, options);

  // One cycle first, so that lazily made objects (the logger, the listener)
  // exist in both measurements.
  env.SetUp();
  env.TearDown();
  const Counts before = Measure(temp_dir);
  constexpr int kCycles = 2000;
  int answered = 0;
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    env.SetUp();
    if (cycle % 100 == 0) {
      httplib::Client client(env.host(), env.port());
      if (auto answer = client.Get("/hello")) answered += answer->body == "hello from soak";
    }
    env.TearDown();
    if (::testing::Test::HasFailure()) break;
  }
  const Counts after = Measure(temp_dir);
  unsetenv("TMPDIR");
  rmdir(LogsIn(temp_dir).c_str());
  rmdir(temp_dir.c_str());
  std::printf(
      "after %d cycles: descriptors %zu -> %zu, threads %zu -> %zu, children %zu -> %zu, "
      "temporary files %zu -> %zu\n",
      kCycles, before.fds, after.fds, before.threads, after.threads, before.children,
      after.children, before.temp_files, after.temp_files);
  EXPECT_EQ(answered, kCycles / 100);
  EXPECT_EQ(after.fds, before.fds);
  EXPECT_EQ(after.threads, before.threads);
  EXPECT_EQ(after.children, before.children);  // the watchdog, one per process
  EXPECT_EQ(after.temp_files, 0u);
}

// Scope::kTest: `cycles` per-test cycles (the last test's clone stopped
// and reaped, a fresh clone of the template made) in one test process, of
// the server `launch` names; `hello` is what its GET `path` answers.
void SoakClones(const gtest_fork_env::detail::Launch& launch, const std::string& name,
                int cycles, const std::string& path, const std::string& hello) {
  const std::string temp_dir = MakeTempDir();
  ASSERT_FALSE(temp_dir.empty());
  setenv("TMPDIR", temp_dir.c_str(), 1);
  gtest_fork_env::Options options;
  options.name = name;
  options.scope = gtest_fork_env::Scope::kTest;
  options.preload_checkpoint = !launch.argv.empty() && launch.argv[0] == "/usr/bin/python3";
  gtest_fork_env::detail::ServerInstance server(options, launch);
  ASSERT_FALSE(server.Start(false));
  ASSERT_TRUE(server.has_template());
  // One cycle first, so that lazily made objects exist in both measurements.
  ASSERT_FALSE(server.EndUnit(false, "warm-up"));
  ASSERT_FALSE(server.Start(true));
  // The template forks the next test's spare after Start returns: wait for
  // it, so that both counts see it.
  ASSERT_GT(server.spare_pid(), 0);
  const Counts before = Measure(temp_dir);
  const size_t data_dirs_before = CountEntries(temp_dir);
  int answered = 0;
  std::set<pid_t> pids;
  for (int cycle = 0; cycle < cycles && !::testing::Test::HasFailure(); ++cycle) {
    EXPECT_FALSE(server.EndUnit(false, "cycle " + std::to_string(cycle)));
    EXPECT_FALSE(server.Start(true));
    pids.insert(server.pid());
    if (cycle % 100 == 0) {
      httplib::Client client(server.options().host, server.port());
      if (auto answer = client.Get(path)) answered += answer->body == hello;
    }
  }
  EXPECT_GT(server.spare_pid(), 0);
  const Counts after = Measure(temp_dir);
  const size_t data_dirs_after = CountEntries(temp_dir);
  server.Finish(true);
  unsetenv("TMPDIR");
  std::printf(
      "after %d per-test clones of %s: descriptors %zu -> %zu, threads %zu -> %zu, children "
      "%zu -> %zu, entries in TMPDIR %zu -> %zu, distinct clone pids %zu\n",
      cycles, name.c_str(), before.fds, after.fds, before.threads, after.threads,
      before.children, after.children, data_dirs_before, data_dirs_after, pids.size());
  std::system(("rm -rf '" + temp_dir + "'").c_str());
  EXPECT_EQ(answered, (cycles + 99) / 100);
  EXPECT_EQ(after.fds, before.fds);
  EXPECT_EQ(after.threads, before.threads);
  EXPECT_EQ(after.children, before.children);  // the template, a clone, its spare, the watchdog
  EXPECT_EQ(data_dirs_after, data_dirs_before);
  EXPECT_EQ(pids.size(), static_cast<size_t>(cycles));
}

TEST(Soak, TwoThousandPerTestClonesLeakNothing) {
  gtest_fork_env::detail::Launch launch;
  launch.function = scenarios::ServeHello;
  SoakClones(launch, "soak-clones", 2000, "/hello", "hello from soak-clones");
}

// A program that links the server side, in exec mode.
TEST(Soak, OneThousandPerTestClonesOfALinkedProgramLeakNothing) {
  gtest_fork_env::detail::Launch launch;
  launch.argv = {LINKED_SERVER, "--port", "{port}"};
  SoakClones(launch, "soak-linked", 1000, "/value", "unset");
}

// An unmodified Python program under Options::preload_checkpoint.
TEST(Soak, OneThousandPerTestClonesOfAPreloadedProgramLeakNothing) {
  gtest_fork_env::detail::Launch launch;
  launch.argv = {"/usr/bin/python3", KV_SERVER_PY, "--port", "{port}"};
  SoakClones(launch, "soak-preloaded", 1000, "/value", "unset");
}

TEST(Soak, FiveHundredTestProcessesUnderCtestAtOnce) {
  const std::string dir = MakeTempDir();
  const std::string temp_dir = MakeTempDir();
  ASSERT_FALSE(dir.empty());
  ASSERT_FALSE(temp_dir.empty());
  const std::string marker = test_support::UniqueMarker();
  constexpr int kProcesses = 500;
  {
    std::ofstream file(dir + "/CTestTestfile.cmake");
    for (int i = 0; i < kProcesses; ++i) {
      file << "add_test(soak" << i << " \"" << FORK_SERVER_ENV_TEST << "\" \"" << marker
           << "\" \"--gtest_filter=ForkServerEnv.ServerAnswersOverHttp\")\n"
           << "set_tests_properties(soak" << i << " PROPERTIES TIMEOUT 300 ENVIRONMENT \"TMPDIR="
           << temp_dir << "\")\n";
    }
  }
  test_support::RunOptions options;
  options.timeout = milliseconds(600000);
  test_support::RunResult result = test_support::Run(
      {CTEST_COMMAND, "--test-dir", dir, "-j", std::to_string(kProcesses), "--output-on-failure"},
      options);
  const bool none_left = test_support::WaitUntil(
      [&] { return test_support::ProcessesWithArgument(marker).empty(); }, milliseconds(5000));
  const size_t temp_files = CountEntries(LogsIn(temp_dir));
  std::printf("%d test processes under ctest -j %d: took %lld ms, %zu temporary files left\n",
              kProcesses, kProcesses, static_cast<long long>(result.elapsed.count()), temp_files);
  const bool all_passed =
      result.exit_code == 0 &&
      result.output.find("100% tests passed, 0 tests failed out of " +
                         std::to_string(kProcesses)) != std::string::npos;
  EXPECT_TRUE(all_passed) << "ctest exited with " << result.exit_code
                          << "; what every test that did not pass wrote (ctest's LastTest.log):\n"
                          << FailedTestRecords(dir) << "ctest's summary:\n"
                          << CtestSummary(result.output);
  EXPECT_TRUE(none_left);
  EXPECT_EQ(temp_files, 0u);
  if (::testing::Test::HasFailure()) {
    // Kept for a look: the kept logs that the failures above name are there.
    std::printf("kept: %s (ctest's Testing/Temporary/LastTest.log), %s (the servers' logs, %s)\n",
                dir.c_str(), temp_dir.c_str(), LogsIn(temp_dir).c_str());
  } else {
    std::system(("rm -rf '" + dir + "' '" + temp_dir + "'").c_str());
  }
}

}  // namespace
