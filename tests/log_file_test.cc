#include "log_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace {

using gtest_fork_env::detail::LogFile;
using gtest_fork_env::detail::OpenLogFile;
using gtest_fork_env::detail::TailOfFile;

TEST(LogFile, TemporaryFileIsInTmpdirAndNamedAfterTheServer) {
  char dir[] = "/tmp/gtest_fork_env-logtest-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  setenv("TMPDIR", dir, 1);
  LogFile log;
  ASSERT_FALSE(OpenLogFile("", "my api/v1", log));
  unsetenv("TMPDIR");
  EXPECT_TRUE(log.temporary);
  EXPECT_EQ(log.path.rfind(std::string(dir) + "/gtest_fork_env-my_api_v1-", 0), 0u) << log.path;
  EXPECT_EQ(access(log.path.c_str(), W_OK), 0);
  unlink(log.path.c_str());
  rmdir(dir);
}

TEST(LogFile, GivenPathIsTruncatedAndKept) {
  std::string path = "/tmp/gtest_fork_env-logtest-" + std::to_string(getpid()) + ".log";
  std::ofstream(path) << "old content\n";
  LogFile log;
  ASSERT_FALSE(OpenLogFile(path, "x", log));
  EXPECT_FALSE(log.temporary);
  EXPECT_EQ(TailOfFile(path, 5), "");
  unlink(path.c_str());
}

TEST(LogFile, UnwritablePathIsAnError) {
  LogFile log;
  EXPECT_TRUE(OpenLogFile("/nonexistent-dir/server.log", "x", log));
}

TEST(TailOfFile, KeepsTheLastLinesPrefixed) {
  std::string path = "/tmp/gtest_fork_env-tailtest-" + std::to_string(getpid()) + ".log";
  {
    std::ofstream file(path);
    for (int i = 1; i <= 30; ++i) file << "line " << i << "\n";
  }
  EXPECT_EQ(TailOfFile(path, 3), "  | line 28\n  | line 29\n  | line 30\n");
  unlink(path.c_str());
}

TEST(TailOfFile, CutsLongLinesAndReadsOnlyTheEndOfAHugeFile) {
  std::string path = "/tmp/gtest_fork_env-tailtest-big-" + std::to_string(getpid()) + ".log";
  {
    std::ofstream file(path);
    for (int i = 0; i < 200000; ++i) file << "filler line " << i << "\n";
    file << std::string(1000, 'x') << "\n";
  }
  std::string tail = TailOfFile(path, 2);
  EXPECT_EQ(tail, "  | filler line 199999\n  | " + std::string(300, 'x') + " [...]\n");
  unlink(path.c_str());
}

TEST(TailOfFile, MissingFileGivesNothing) { EXPECT_EQ(TailOfFile("/nonexistent.log", 5), ""); }

}  // namespace
