#pragma once

#include <string>

namespace gtest_fork_env::detail {

// How a child process ended, decoded from a wait status.
struct ExitStatus {
  bool exited = false;    // returned or called exit/_exit
  int code = 0;           // exit code when `exited`
  bool signaled = false;  // killed by a signal
  int signal = 0;         // the signal when `signaled`

  static ExitStatus FromWaitStatus(int wait_status) noexcept;
  bool success() const noexcept { return exited && code == 0; }
};

// "SIGSEGV" for 11; "signal 42" for a signal without a well-known name.
std::string SignalName(int signal);

// "exited with code 3" / "was killed by SIGSEGV (Segmentation fault)".
std::string Describe(const ExitStatus& status);

}  // namespace gtest_fork_env::detail
