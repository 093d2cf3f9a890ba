// What runs of test binaries leave side by side in one TMPDIR, data
// directories and logs (kept_entries.h): no run can remove what another live
// run is making (issue 20). The race is made deterministic with the seam of
// kept_entries.h: a forked child stops itself between making its entry and
// locking it, and this process starts another run meanwhile.

#include "kept_entries.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <system_error>

#include "data_dirs.h"
#include "log_file.h"
#include "support/subprocess.h"
#include "unique_fd.h"

namespace {

using gtest_fork_env::detail::AdviceForFileError;
using gtest_fork_env::detail::DataDirs;
using gtest_fork_env::detail::LogDirectory;
using gtest_fork_env::detail::LogFile;
using gtest_fork_env::detail::OpenLogFile;
using gtest_fork_env::detail::PruneOtherLogs;
using gtest_fork_env::detail::UniqueFd;
using std::chrono::milliseconds;
namespace fs = std::filesystem;

// A fresh directory as TMPDIR (and TEST_TMPDIR, which the library prefers)
// for one test; the old values come back and the directory goes after it.
class TempDirScope {
 public:
  TempDirScope() {
    char pattern[] = "/tmp/gtest_fork_env-kept-XXXXXX";
    dir_ = mkdtemp(pattern) ? pattern : "";
    for (const char* name : {"TMPDIR", "TEST_TMPDIR"}) {
      const char* value = std::getenv(name);
      saved_.emplace_back(name, value ? value : "", value != nullptr);
      setenv(name, dir_.c_str(), 1);
    }
  }
  ~TempDirScope() {
    for (const auto& [name, value, set] : saved_) {
      set ? setenv(name.c_str(), value.c_str(), 1) : unsetenv(name.c_str());
    }
    std::error_code ignored;
    if (!dir_.empty()) fs::remove_all(dir_, ignored);
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::vector<std::tuple<std::string, std::string, bool>> saved_;
};

// What a child made: the error of the call, the path, and whether the path
// still existed when the call returned.
struct Made {
  int error = -1;
  bool exists = false;
  std::string path;
};

// A forked child that calls `make` with the seam set to stop at `point`.
// Every wait is bounded; the destructor kills and reaps the child.
class StoppedMaker {
 public:
  StoppedMaker(const char* point, const std::function<std::error_code(std::string*)>& make) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return;
    std::fflush(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      close(fds[0]);
      setenv("GTEST_FORK_ENV_TEST_STOP_AT", point, 1);
      std::string path;
      const std::error_code error = make(&path);
      const std::string report = std::to_string(error.value()) + " " +
                                 (access(path.c_str(), F_OK) == 0 ? "1 " : "0 ") + path;
      (void)!write(fds[1], report.data(), report.size());
      _exit(0);
    }
    close(fds[1]);
    result_ = UniqueFd(fds[0]);
  }
  ~StoppedMaker() {
    if (pid_ <= 0 || reaped_) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }

  // Whether the child stopped itself at the seam within `timeout`.
  bool WaitStopped(milliseconds timeout) {
    if (pid_ <= 0) return false;
    return test_support::WaitUntil(
        [&] {
          int status = 0;
          return waitpid(pid_, &status, WUNTRACED | WNOHANG) == pid_ && WIFSTOPPED(status);
        },
        timeout);
  }

  // Lets the child go on, and reads what it made (error -1: no answer).
  Made Continue(milliseconds timeout) {
    kill(pid_, SIGCONT);
    std::string text;
    char buffer[4096];
    struct pollfd watch = {result_.get(), POLLIN, 0};
    while (poll(&watch, 1, static_cast<int>(timeout.count())) == 1) {
      const ssize_t got = read(result_.get(), buffer, sizeof buffer);
      if (got <= 0) break;
      text.append(buffer, static_cast<size_t>(got));
    }
    Made made;
    const size_t first = text.find(' ');
    if (first != std::string::npos && text.size() >= first + 3) {
      made.error = std::atoi(text.c_str());
      made.exists = text[first + 1] == '1';
      made.path = text.substr(first + 3);
    }
    return made;
  }

  // Kills the child where it stopped, as a crash there would.
  void Kill() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    reaped_ = true;
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  UniqueFd result_;
};

// Makes `path` (a directory or a file) with a modification time
// `seconds_ahead` from now: newer than anything a run makes now.
void MakeNewer(const std::string& path, bool directory, int seconds_ahead) {
  if (directory) {
    mkdir(path.c_str(), 0700);
  } else {
    UniqueFd(open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  }
  const struct timespec when = {time(nullptr) + seconds_ahead, 0};
  const struct timespec times[2] = {when, when};
  utimensat(AT_FDCWD, path.c_str(), times, 0);
}

size_t EntriesStartingWith(const std::string& dir, const std::string& prefix) {
  size_t count = 0;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    count += entry.path().filename().string().rfind(prefix, 0) == 0;
  }
  return count;
}

const milliseconds kWait(10000);

std::error_code MakeDataDir(std::string* path) {
  static DataDirs dirs;  // outlives the call: the child reports afterwards
  return dirs.NewUnit("race", false, path);
}

// The failure of issue 20: a run that made its base but had not yet locked
// it, while another run started and pruned, found its base gone ("cannot make
// its data directory: No such file or directory").
TEST(DataDirs, ABaseBeingMadeIsNotPrunedByAnotherRun) {
  TempDirScope tmp;
  ASSERT_FALSE(tmp.dir().empty());
  StoppedMaker starting("entry-made", MakeDataDir);
  ASSERT_TRUE(starting.WaitStopped(kWait));
  // Four newer kept bases: the stopped one is beyond the newest four.
  for (int i = 0; i < 4; ++i) {
    MakeNewer(tmp.dir() + "/gtest_fork_env-race-data-kept0" + std::to_string(i), true, 100 + i);
  }
  DataDirs other;
  std::string other_unit;
  ASSERT_FALSE(other.NewUnit("race", false, &other_unit));
  DataDirs::PruneOtherRuns("race");
  const Made made = starting.Continue(kWait);
  EXPECT_EQ(made.error, 0) << std::system_category().message(made.error);
  EXPECT_TRUE(made.exists) << made.path;
  other.RemoveAll();
}

// A run killed between making its base and locking it leaves an idle
// directory, which a later run prunes like any other.
TEST(DataDirs, ABaseWhoseMakerDiedBeforeLockingItIsPruned) {
  TempDirScope tmp;
  ASSERT_FALSE(tmp.dir().empty());
  const std::string prefix = "gtest_fork_env-race-data-";
  {
    StoppedMaker dying("entry-made", MakeDataDir);
    ASSERT_TRUE(dying.WaitStopped(kWait));
    dying.Kill();
  }
  ASSERT_EQ(EntriesStartingWith(tmp.dir(), prefix), 1u);
  for (int i = 0; i < 4; ++i)
    MakeNewer(tmp.dir() + "/" + prefix + "kept0" + std::to_string(i), true, 100 + i);
  // One older base that a live process holds: it stays.
  const std::string held = tmp.dir() + "/" + prefix + "held00";
  MakeNewer(held, true, -1000);
  UniqueFd holder(open(held.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_EQ(flock(holder.get(), LOCK_SH), 0);
  DataDirs other;
  std::string other_unit;
  ASSERT_FALSE(other.NewUnit("race", false, &other_unit));
  DataDirs::PruneOtherRuns("race");
  // The four kept, the held one and the new run's own: the dead one went.
  EXPECT_EQ(EntriesStartingWith(tmp.dir(), prefix), 6u);
  EXPECT_TRUE(fs::exists(held));
  other.RemoveAll();
}

// Scope::kBinary's one directory is the base itself: held from the start
// like any base, so that another run's prune leaves it, and removed whole.
TEST(DataDirs, TheOnlyUnitIsTheHeldBase) {
  TempDirScope tmp;
  ASSERT_FALSE(tmp.dir().empty());
  const std::string prefix = "gtest_fork_env-race-data-";
  DataDirs run;
  std::string only;
  ASSERT_FALSE(run.OnlyUnit("race", &only));
  EXPECT_EQ(fs::path(only).parent_path(), fs::path(tmp.dir()));
  EXPECT_EQ(fs::path(only).filename().string().rfind(prefix, 0), 0u) << only;
  ASSERT_TRUE(fs::is_directory(only));
  // Older than four newer idle ones, which a prune keeps: only its hold
  // keeps it.
  const struct timespec old[2] = {{time(nullptr) - 1000, 0}, {time(nullptr) - 1000, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, only.c_str(), old, 0), 0);
  for (int i = 0; i < 4; ++i)
    MakeNewer(tmp.dir() + "/" + prefix + "kept0" + std::to_string(i), true, 100 + i);
  DataDirs::PruneOtherRuns("race");
  EXPECT_TRUE(fs::is_directory(only));
  std::ofstream(only + "/file") << "data";
  run.RemoveAll();
  EXPECT_FALSE(fs::exists(only));
  EXPECT_EQ(EntriesStartingWith(tmp.dir(), prefix), 4u);
}

std::error_code MakeLog(std::string* path) {
  static LogFile log;
  const std::error_code error = OpenLogFile("", "race", log);
  *path = log.path;
  return error;
}

// The same window for logs: a run's log, made but not yet locked, must not
// go while another run prunes, or a failure message would name a log that
// is gone.
TEST(LogFile, ALogBeingMadeIsNotPrunedByAnotherRun) {
  TempDirScope tmp;
  ASSERT_FALSE(tmp.dir().empty());
  StoppedMaker starting("entry-made", MakeLog);
  ASSERT_TRUE(starting.WaitStopped(kWait));
  for (int i = 0; i < 5; ++i) {
    MakeNewer(LogDirectory() + "/race-100-kept0" + std::to_string(i) + ".log", false, 100 + i);
  }
  LogFile other;
  ASSERT_FALSE(OpenLogFile("", "race", other));
  PruneOtherLogs("race");
  const Made made = starting.Continue(kWait);
  EXPECT_EQ(made.error, 0) << std::system_category().message(made.error);
  EXPECT_TRUE(made.exists) << made.path;
}

// "Point TMPDIR at a writable place" only when TMPDIR is the cause: the
// race above failed with ENOENT, and that advice sent people the wrong way.
TEST(DataDirs, AdviceNamesAWritablePlaceOnlyWhenThatIsTheCause) {
  using ::testing::HasSubstr;
  using ::testing::Not;
  auto advice = [](int errno_value) {
    return AdviceForFileError(std::error_code(errno_value, std::system_category()), "TMPDIR");
  };
  for (int cause : {ENOSPC, EDQUOT, EACCES, EPERM, EROFS}) {
    EXPECT_THAT(advice(cause), HasSubstr("point TMPDIR at a writable place")) << cause;
  }
  EXPECT_THAT(advice(ENOSPC), HasSubstr("with room"));
  for (int other : {ENOENT, ENOTDIR, EMFILE, ENFILE, ENOMEM, ENAMETOOLONG, EIO, EINVAL}) {
    EXPECT_THAT(advice(other), Not(HasSubstr("writable place"))) << other;
  }
  EXPECT_THAT(advice(ENOENT), HasSubstr("please report it"));
  EXPECT_THAT(advice(EMFILE), HasSubstr("ulimit -n"));
  EXPECT_THAT(advice(EIO), HasSubstr("please report it"));
}

}  // namespace
