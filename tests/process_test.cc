// The process layer alone: no GoogleTest environment, no HTTP.

#include "process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <condition_variable>
#include <mutex>
#include <cstdlib>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "checkpoint.h"
#include "support/subprocess.h"

namespace {

using gtest_fork_env::detail::ChildStep;
using gtest_fork_env::detail::CountThreads;
using gtest_fork_env::detail::Describe;
using gtest_fork_env::detail::ExitStatus;
using gtest_fork_env::detail::Process;
using gtest_fork_env::detail::SpawnRequest;
using std::chrono::milliseconds;
using test_support::ProcessAlive;
using test_support::WaitUntil;

SpawnRequest Function(std::function<int()> function) {
  SpawnRequest request;
  request.function = std::move(function);
  return request;
}

size_t OpenDescriptors() {
  size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)entry;
    ++count;
  }
  return count;
}

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

TEST(Process, ReportsTheExitCode) {
  Process process;
  ASSERT_FALSE(process.Start(Function([] { return 3; })));
  auto status = process.WaitForExit(milliseconds(5000));
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->exited);
  EXPECT_EQ(status->code, 3);
  EXPECT_EQ(Describe(*status), "exited with code 3");
}

TEST(Process, ReportsTheSignal) {
  Process process;
  ASSERT_FALSE(process.Start(Function([] {
    std::raise(SIGSEGV);
    return 0;
  })));
  auto status = process.WaitForExit(milliseconds(5000));
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->signaled);
  EXPECT_EQ(status->signal, SIGSEGV);
  EXPECT_EQ(Describe(*status), "was killed by SIGSEGV (Segmentation fault)");
}

TEST(Process, PeekDoesNotReapSoThePidStaysReserved) {
  Process process;
  ASSERT_FALSE(process.Start(Function([] { return 0; })));
  ASSERT_TRUE(process.WaitForExit(milliseconds(5000)));
  EXPECT_TRUE(process.Peek());
  EXPECT_TRUE(process.Peek());  // still there: not reaped
  ExitStatus status = process.Stop(milliseconds(100));
  EXPECT_TRUE(status.success());
  EXPECT_FALSE(process.started());
}

TEST(Process, WaitForExitTimesOutOnARunningChild) {
  Process process;
  ASSERT_FALSE(process.Start(Function([] {
    for (int i = 0; i < 100; ++i) sleep(1);
    return 0;
  })));
  EXPECT_FALSE(process.WaitForExit(milliseconds(50)));
  bool forced = true;
  ExitStatus status = process.Stop(milliseconds(2000), &forced);
  EXPECT_FALSE(forced);
  EXPECT_TRUE(status.signaled);
  EXPECT_EQ(status.signal, SIGTERM);
}

TEST(Process, ChildLeadsANewGroupAndIsReaped) {
  Process process;
  ASSERT_FALSE(process.Start(Function([] {
    for (int i = 0; i < 100; ++i) sleep(1);
    return 0;
  })));
  const pid_t pid = process.pid();
  EXPECT_EQ(process.group(), pid);
  EXPECT_EQ(getpgid(pid), pid);
  EXPECT_NE(pid, getpgid(0));
  process.Stop(milliseconds(1000));
  // Reaped here: no zombie is left for init.
  EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), -1);
  EXPECT_FALSE(ProcessAlive(pid));
}

TEST(Process, StopKillsAChildThatIgnoresSigterm) {
  Process process;
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_FALSE(process.Start(Function([&] {
    signal(SIGTERM, SIG_IGN);
    ssize_t ignored = write(ready[1], "x", 1);
    (void)ignored;
    for (int i = 0; i < 100; ++i) sleep(1);
    return 0;
  })));
  close(ready[1]);
  char byte;
  ASSERT_EQ(read(ready[0], &byte, 1), 1);
  close(ready[0]);
  bool forced = false;
  ExitStatus status = process.Stop(milliseconds(100), &forced);
  EXPECT_TRUE(forced);
  EXPECT_TRUE(status.signaled);
  EXPECT_EQ(status.signal, SIGKILL);
}

TEST(Process, StopKillsGrandchildrenInTheGroup) {
  Process process;
  int report[2];
  ASSERT_EQ(pipe(report), 0);
  ASSERT_FALSE(process.Start(Function([&] {
    pid_t grandchild = fork();
    if (grandchild == 0) {
      signal(SIGTERM, SIG_IGN);
      for (int i = 0; i < 100; ++i) sleep(1);
      _exit(0);
    }
    ssize_t ignored = write(report[1], &grandchild, sizeof grandchild);
    (void)ignored;
    for (int i = 0; i < 100; ++i) sleep(1);
    return 0;
  })));
  close(report[1]);
  pid_t grandchild = -1;
  ASSERT_EQ(read(report[0], &grandchild, sizeof grandchild),
            static_cast<ssize_t>(sizeof grandchild));
  close(report[0]);
  ASSERT_TRUE(ProcessAlive(grandchild));
  process.Stop(milliseconds(1000));
  EXPECT_TRUE(WaitUntil([&] { return !ProcessAlive(grandchild); }, milliseconds(1000)));
}

TEST(Process, WatchdogKillsTheGroupWhenTheParentDies) {
  // A middle process starts a server through Process and is then killed with
  // SIGKILL: the server must go within a second, with nobody calling Stop.
  int report[2];
  ASSERT_EQ(pipe(report), 0);
  pid_t middle = fork();
  ASSERT_GE(middle, 0);
  if (middle == 0) {
    Process server;
    if (server.Start(Function([] {
          for (int i = 0; i < 100; ++i) sleep(1);
          return 0;
        }))) {
      _exit(1);
    }
    pid_t pid = server.pid();
    ssize_t ignored = write(report[1], &pid, sizeof pid);
    (void)ignored;
    for (int i = 0; i < 100; ++i) sleep(1);
    _exit(0);
  }
  close(report[1]);
  pid_t server = -1;
  ASSERT_EQ(read(report[0], &server, sizeof server), static_cast<ssize_t>(sizeof server));
  close(report[0]);
  ASSERT_TRUE(ProcessAlive(server));
  kill(middle, SIGKILL);
  waitpid(middle, nullptr, 0);
  EXPECT_TRUE(WaitUntil([&] { return !ProcessAlive(server); }, milliseconds(1000)));
}

TEST(Process, ChildOutputGoesToTheGivenDescriptor) {
  char path[] = "/tmp/gtest_fork_env-process-test-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  SpawnRequest request = Function([] {
    std::printf("to stdout\n");
    std::fprintf(stderr, "to stderr\n");
    return 0;
  });
  request.output_fd = fd;
  Process process;
  ASSERT_FALSE(process.Start(request));
  ASSERT_TRUE(process.WaitForExit(milliseconds(5000)));
  process.Stop(milliseconds(0));
  close(fd);
  std::string log = ReadFile(path);
  unlink(path);
  EXPECT_NE(log.find("to stdout"), std::string::npos) << log;
  EXPECT_NE(log.find("to stderr"), std::string::npos) << log;
}

TEST(Process, ExecOfAMissingProgramFailsAtOnceWithTheErrno) {
  SpawnRequest request;
  request.argv = {"/nonexistent/program"};
  Process process;
  ChildStep step = ChildStep::kSetpgid;
  std::error_code error = process.Start(request, &step);
  EXPECT_EQ(error, std::errc::no_such_file_or_directory);
  EXPECT_EQ(step, ChildStep::kExec);
  EXPECT_FALSE(process.started());
}

TEST(Process, ProgramNotFoundInPathFailsWithTheErrno) {
  SpawnRequest request;
  request.argv = {"gtest-fork-env-no-such-program"};
  Process process;
  ChildStep step = ChildStep::kSetpgid;
  EXPECT_EQ(process.Start(request, &step), std::errc::no_such_file_or_directory);
  EXPECT_EQ(step, ChildStep::kExec);
}

TEST(Process, MissingWorkingDirectoryFailsAtChdir) {
  SpawnRequest request;
  request.argv = {"/bin/true"};
  request.working_dir = "/nonexistent/directory";
  Process process;
  ChildStep step = ChildStep::kSetpgid;
  EXPECT_EQ(process.Start(request, &step), std::errc::no_such_file_or_directory);
  EXPECT_EQ(step, ChildStep::kChdir);
  EXPECT_FALSE(process.started());
}

TEST(Process, MovedProcessKeepsOwningTheChild) {
  Process first;
  ASSERT_FALSE(first.Start(Function([] {
    for (int i = 0; i < 100; ++i) sleep(1);
    return 0;
  })));
  const pid_t pid = first.pid();
  Process second(std::move(first));
  EXPECT_FALSE(first.started());
  EXPECT_EQ(second.pid(), pid);
  EXPECT_TRUE(ProcessAlive(pid));
  second.Stop(milliseconds(1000));
  EXPECT_FALSE(ProcessAlive(pid));
}

TEST(Process, ExecPassesOnlyStdioAndInheritedDescriptors) {
  char path[] = "/tmp/gtest_fork_env-process-test-XXXXXX";
  int out = mkstemp(path);
  ASSERT_GE(out, 0);
  int kept[2];
  ASSERT_EQ(pipe(kept), 0);  // not close-on-exec: only `inherit_fds` may pass it on
  SpawnRequest request;
  request.argv = {"/bin/ls", "/proc/self/fd"};
  request.output_fd = out;
  request.inherit_fds = {kept[0]};
  Process process;
  ASSERT_FALSE(process.Start(request));
  auto status = process.WaitForExit(milliseconds(5000));
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->success());
  process.Stop(milliseconds(0));
  close(out);
  std::string listing = ReadFile(path);
  unlink(path);
  // ls itself opens one descriptor to read the directory.
  std::vector<std::string> fds;
  size_t begin = 0;
  while (begin < listing.size()) {
    size_t end = listing.find('\n', begin);
    fds.push_back(listing.substr(begin, end - begin));
    begin = end + 1;
  }
  EXPECT_EQ(fds.size(), 5u) << listing;
  EXPECT_NE(std::find(fds.begin(), fds.end(), std::to_string(kept[0])), fds.end()) << listing;
  EXPECT_EQ(std::find(fds.begin(), fds.end(), std::to_string(kept[1])), fds.end()) << listing;
  close(kept[0]);
  close(kept[1]);
}

TEST(Process, NoDescriptorLeaksOverManyCycles) {
  // The first start also starts this process's watchdog, which keeps one
  // descriptor for the whole run: measure after it.
  {
    Process first;
    ASSERT_FALSE(first.Start(Function([] { return 0; })));
    first.Stop(milliseconds(1000));
  }
  const size_t before = OpenDescriptors();
  for (int i = 0; i < 50; ++i) {
    Process process;
    ASSERT_FALSE(process.Start(Function([] {
      for (int j = 0; j < 100; ++j) sleep(1);
      return 0;
    })));
    process.Stop(milliseconds(1000));
  }
  EXPECT_EQ(OpenDescriptors(), before);
}

TEST(Process, DestroyingARunningProcessKillsAndReapsIt) {
  pid_t pid;
  {
    Process process;
    ASSERT_FALSE(process.Start(Function([] {
      for (int i = 0; i < 100; ++i) sleep(1);
      return 0;
    })));
    pid = process.pid();
  }
  // Reaped: waitpid no longer knows the child.
  EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST(CountThreads, SeesASecondThread) {
  const size_t before = CountThreads();
  ASSERT_GE(before, 1u);
  bool stop = false;
  std::mutex mutex;
  std::condition_variable changed;
  std::thread worker([&] {
    std::unique_lock<std::mutex> lock(mutex);
    changed.wait(lock, [&] { return stop; });
  });
  EXPECT_EQ(CountThreads(), before + 1);
  {
    std::lock_guard<std::mutex> lock(mutex);
    stop = true;
  }
  changed.notify_all();
  worker.join();
}

}  // namespace
