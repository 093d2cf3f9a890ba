// The watchdog from inside a test process: its failing system calls leave
// the test thread's errno alone. It may run in the test process's memory
// (clone with CLONE_VM, watchdog.cc) with the starting thread's thread
// pointer, so a glibc wrapper's failure would write errno there.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "watchdog.h"

namespace {

constexpr int kSentinel = 4242;  // no errno value

// In a forked child, which gets a watchdog of its own: registers a process
// group that is gone and a directory that does not exist, then closes the
// command pipe, so that the watchdog wakes and kills the group (ESRCH) and
// removes the directory (ENOENT) while this thread spins on its errno for
// 400 ms. Exits 0 when errno stayed, 1 when it changed, 2 on a setup error.
[[noreturn]] void WatchdogFailsWhileThisThreadWatchesErrno() {
  const pid_t gone = fork();
  if (gone == 0) _exit(0);
  if (gone < 0 || waitpid(gone, nullptr, 0) != gone) _exit(2);
  if (gtest_fork_env::detail::EnsureWatchdog()) _exit(2);
  gtest_fork_env::detail::TellWatchdog('+', gone);
  if (gtest_fork_env::detail::WatchdogRemovesDirectory("/nonexistent-gtest-fork-env-dir")) _exit(2);
  const int command_fd = gtest_fork_env::detail::WatchdogCommandFd();
  errno = kSentinel;
  close(command_fd);  // succeeds: errno is not touched
  // clock_gettime is a vDSO call that sets nothing when it succeeds.
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  do {
    if (errno != kSentinel) _exit(1);
    clock_gettime(CLOCK_MONOTONIC, &now);
  } while ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) <
           400L * 1000 * 1000);
  _exit(errno == kSentinel ? 0 : 1);
}

TEST(Watchdog, ItsFailingCallsLeaveTheTestThreadsErrnoAlone) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) WatchdogFailsWhileThisThreadWatchesErrno();
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_NE(WEXITSTATUS(status), 2) << "the child could not set up its watchdog";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the watchdog's failing calls changed this thread's errno";
}

}  // namespace
