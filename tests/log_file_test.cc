#include "log_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

using gtest_fork_env::detail::LogDirectory;
using gtest_fork_env::detail::LogFile;
using gtest_fork_env::detail::OpenLogFile;
using gtest_fork_env::detail::PruneOtherLogs;
using gtest_fork_env::detail::SafeFileName;
using gtest_fork_env::detail::TailOfFile;
using gtest_fork_env::detail::UniqueFd;

TEST(LogFile, TemporaryFileIsInTheLogDirectoryAndNamedAfterTheServer) {
  char dir[] = "/tmp/gtest_fork_env-logtest-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const char* test_tmpdir = std::getenv("TEST_TMPDIR");
  const std::string saved = test_tmpdir ? test_tmpdir : "";
  unsetenv("TEST_TMPDIR");
  setenv("TMPDIR", dir, 1);
  const std::string log_dir = LogDirectory();
  LogFile log;
  ASSERT_FALSE(OpenLogFile("", "my api/v1", log));
  unsetenv("TMPDIR");
  if (test_tmpdir) setenv("TEST_TMPDIR", saved.c_str(), 1);
  EXPECT_EQ(log_dir, std::string(dir) + "/gtest_fork_env-logs-" + std::to_string(geteuid()));
  EXPECT_TRUE(log.temporary);
  EXPECT_EQ(log.path.rfind(log_dir + "/my_api_v1-" + std::to_string(getpid()) + "-", 0), 0u)
      << log.path;
  EXPECT_EQ(access(log.path.c_str(), W_OK), 0);
  struct stat info;
  ASSERT_EQ(stat(log_dir.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);
  std::filesystem::remove_all(dir);
}

// Logs of one server name beyond the newest kKeptLogsPerServer go, unless a
// process holds them open; logs of other names stay.
TEST(LogFile, KeepsTheNewestLogsPerServerAndThoseInUse) {
  char dir[] = "/tmp/gtest_fork_env-logtest-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string log_dir = std::string(dir) + "/logs";
  ASSERT_EQ(mkdir(log_dir.c_str(), 0700), 0);
  auto make_old = [&](const std::string& name, int age_seconds) {
    const std::string path = log_dir + "/" + name;
    std::ofstream(path) << name << "\n";
    struct timespec times[2] = {{time(nullptr) - age_seconds, 0}, {time(nullptr) - age_seconds, 0}};
    utimensat(AT_FDCWD, path.c_str(), times, 0);
    return path;
  };
  std::vector<std::string> api_logs;
  for (int i = 0; i < 8; ++i) {
    api_logs.push_back(make_old(
        "api-100" + std::to_string(i) + "-abcde" + std::to_string(i) + ".log", 1000 - i * 10));
  }
  const std::string oldest_in_use = make_old("api-999-inuse0.log", 5000);
  UniqueFd holder(open(oldest_in_use.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_EQ(flock(holder.get(), LOCK_SH), 0);
  const std::string other_name = make_old("api-v2-100-abcdef.log", 9000);

  const char* test_tmpdir = std::getenv("TEST_TMPDIR");
  const std::string saved = test_tmpdir ? test_tmpdir : "";
  setenv("TEST_TMPDIR", dir, 1);
  // LogDirectory() is <TempDir()>/gtest_fork_env-logs-<uid>: point it here.
  const std::string real_dir = LogDirectory();
  ASSERT_EQ(rename(log_dir.c_str(), real_dir.c_str()), 0);
  LogFile log;
  ASSERT_FALSE(OpenLogFile("", "api", log));
  PruneOtherLogs("api");
  test_tmpdir ? setenv("TEST_TMPDIR", saved.c_str(), 1) : unsetenv("TEST_TMPDIR");

  auto exists = [&](const std::string& path) {
    return access((real_dir + path.substr(log_dir.size())).c_str(), F_OK) == 0;
  };
  // The newest five idle ones stay (i = 3..7 are younger), the three oldest go.
  for (int i = 0; i < 8; ++i) EXPECT_EQ(exists(api_logs[i]), i >= 3) << api_logs[i];
  EXPECT_TRUE(exists(oldest_in_use));
  EXPECT_TRUE(exists(other_name));
  EXPECT_EQ(access(log.path.c_str(), F_OK), 0);
  std::filesystem::remove_all(dir);
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

// Log files and data directories (data_dirs.cc) both name a server this way.
TEST(SafeFileName, KeepsPlainCharactersAndReplacesTheRest) {
  EXPECT_EQ(SafeFileName("redis-server_2.v1"), "redis-server_2.v1");
  EXPECT_EQ(SafeFileName("My Server/1\xc3\xa9"), "My_Server_1__");
  EXPECT_EQ(SafeFileName(std::string(100, 'x')), std::string(64, 'x'));
  EXPECT_EQ(SafeFileName(""), "server");
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
