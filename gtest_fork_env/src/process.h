#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "exit_status.h"
#include "unique_fd.h"

// The process layer: starting a child in a process group of its own, waiting
// for it with a timeout, stopping and reaping it. It knows nothing of
// GoogleTest or HTTP, returns std::error_code and never throws from the
// system-call paths (as reproc does).

namespace gtest_fork_env::detail {

// Steps of the child before it runs the function or program. The child
// reports a failed step and its errno through a close-on-exec pipe:
// end-of-file without data means the step list was completed.
enum class ChildStep : int { kSetpgid, kStdio, kChdir, kInherit, kExec };

// "setpgid", "exec"...
const char* StepName(ChildStep step);

// What to run in the child.
struct SpawnRequest {
  // Fork mode: runs in the forked child; its result is the exit code. Used
  // when `argv` is empty. The child leaves only through _exit, so the
  // parent's atexit handlers and static destructors never run there.
  std::function<int()> function;
  // Exec mode: the program and its arguments. A program name without '/' is
  // looked up in PATH (before the fork, so the child stays
  // async-signal-safe).
  std::vector<std::string> argv;
  // Exec mode: the file to execute; empty means argv[0].
  std::string program;
  // Exec mode: "NAME=value" entries that are added to, or replace, the
  // parent's environment.
  std::vector<std::string> env;
  // Exec mode: working directory of the program; empty keeps the parent's.
  std::string working_dir;
  // Exec mode: descriptors that stay open in the program at the same
  // numbers. Every other descriptor above 2 is closed on exec.
  std::vector<int> inherit_fds;
  // Exec mode, socket activation (sd_listen_fds(3)): these descriptors become
  // 3, 4, ... in the program, which also gets LISTEN_FDS, LISTEN_FDNAMES and
  // LISTEN_PID (its own pid, written in the child after the fork).
  std::vector<int> listen_fds;
  std::string listen_fd_names;  // colon-separated, one name per descriptor
  // Receives the child's stdout and stderr. stdin is always /dev/null.
  int output_fd = -1;
};

// A started child and its process group. Move-only. Destroying a Process
// that still runs kills its group and reaps it (only in the process that
// started it: a forked copy of the parent, such as a fast death-test child,
// leaves it alone).
class Process {
 public:
  Process() = default;
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  ~Process();

  // Starts the child as the leader of a new process group, registered with
  // this process's watchdog: a child of this process, forked once (on the
  // first Start), that reads the groups to guard from a pipe whose write end
  // only this process keeps. When this process dies in any way, the watchdog
  // reads end-of-file and ends every registered group (SIGTERM, then SIGKILL
  // 100 ms later). That is how no server, nor anything it started, outlives
  // a SIGKILLed test binary, at the cost of one fork per test process rather
  // than one per server start.
  // Errors: a failed pipe/fork in the parent, or a failed step in the child
  // before the function or program ran (exec of a missing program gives
  // ENOENT here, at once). `failed_step` receives the step that failed.
  std::error_code Start(const SpawnRequest& request,
                        ChildStep* failed_step = nullptr) noexcept;

  // Takes charge of `pid`, a child of this process that it did not fork
  // itself: a clone a template made with CLONE_PARENT. Like Start, it puts
  // the child in a process group of its own and registers that group with
  // the watchdog. Errors: `pid` is not a child of this process (ESRCH).
  std::error_code Adopt(pid_t pid) noexcept;

  pid_t pid() const noexcept { return pid_; }
  // The process group of the child and everything it starts (the child's
  // pid).
  pid_t group() const noexcept { return pid_; }
  // True from a successful Start until Reap.
  bool started() const noexcept { return pid_ > 0; }

  // A descriptor that polls readable once the child has exited (a pidfd), or
  // -1 where the kernel has none; then callers must use WaitForExit.
  int exit_fd() const noexcept { return pidfd_.get(); }

  // The exit status if the child has exited, without reaping it: the pid and
  // the process group stay reserved until Reap, so signals can never reach a
  // stranger that reused the number.
  std::optional<ExitStatus> Peek() const noexcept;

  // Waits until the child exits or `timeout` passes, without reaping.
  // Uses poll on the pidfd (no sleep loop); without pidfds it falls back to
  // waitid polling with a back-off from 1 ms to 10 ms.
  std::optional<ExitStatus> WaitForExit(
      std::chrono::milliseconds timeout) noexcept;

  // Processes in the child's group other than the child,
  // e.g. what a program that daemonized left behind (Linux: from /proc;
  // empty elsewhere).
  std::vector<pid_t> OtherGroupMembers() const;

  // Sends `signal` to every process in the child's group.
  std::error_code SignalGroup(int signal) noexcept;

  // Stops the group: SIGTERM, up to `grace` for the child to exit, then
  // SIGKILL; once the child is gone, SIGKILL to whatever is left in the group
  // (grandchildren, the watchdog), and the child is reaped. `*forced` says
  // whether the child needed SIGKILL.
  ExitStatus Stop(std::chrono::milliseconds grace, bool* forced = nullptr) noexcept;

  // SIGKILL to the whole group at once, and the child reaped.
  ExitStatus KillGroupAndReap() noexcept;

 private:
  void Reset() noexcept;

  pid_t pid_ = -1;
  pid_t owner_pid_ = -1;  // the process that started the child
  UniqueFd pidfd_;
};

// Runs a server function in a child process and returns its exit code,
// for the caller to _exit with: a throw is reported on stderr (the log) as
// code 70, stdio is flushed, and an exit() inside the function leaves at
// once with _exit, never through the test binary's atexit handlers and
// static destructors.
int RunServerFunction(const std::function<int()>& function);

// Descriptors this process keeps for its children (the watchdog's command
// pipe, the pidfds of started servers): a fork-mode child closes them all,
// since a server that kept the command pipe open would hide the test
// binary's death from the watchdog. Thread-safe.
void RegisterParentSideFd(int fd);
void UnregisterParentSideFd(int fd);

// In a coverage build (GTEST_FORK_ENV_COVERAGE), writes the gcov counters of
// a child that is about to _exit; does nothing otherwise.
void DumpCoverage();

}  // namespace gtest_fork_env::detail
