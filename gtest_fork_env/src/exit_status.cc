#include "exit_status.h"

#include <sys/wait.h>

#include <csignal>
#include <string.h>

namespace gtest_fork_env::detail {

ExitStatus ExitStatus::FromWaitStatus(int wait_status) noexcept {
  ExitStatus status;
  if (WIFEXITED(wait_status)) {
    status.exited = true;
    status.code = WEXITSTATUS(wait_status);
  } else if (WIFSIGNALED(wait_status)) {
    status.signaled = true;
    status.signal = WTERMSIG(wait_status);
  }
  return status;
}

std::string SignalName(int signal) {
  // A table instead of sigabbrev_np(): that is glibc 2.32+ only.
  struct Entry {
    int number;
    const char* name;
  };
  static const Entry kNames[] = {
      {SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"},
      {SIGILL, "SIGILL"},   {SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"},
      {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},   {SIGKILL, "SIGKILL"},
      {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},
      {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"},
      {SIGCHLD, "SIGCHLD"}, {SIGCONT, "SIGCONT"}, {SIGSTOP, "SIGSTOP"},
      {SIGTSTP, "SIGTSTP"}, {SIGXCPU, "SIGXCPU"}, {SIGXFSZ, "SIGXFSZ"},
      {SIGSYS, "SIGSYS"},
  };
  for (const Entry& entry : kNames) {
    if (entry.number == signal) return entry.name;
  }
  return "signal " + std::to_string(signal);
}

std::string Describe(const ExitStatus& status) {
  if (status.exited) return "exited with code " + std::to_string(status.code);
  if (status.signaled) {
    return "was killed by " + SignalName(status.signal) + " (" +
           ::strsignal(status.signal) + ")";
  }
  return "ended in an unknown way";
}

}  // namespace gtest_fork_env::detail
