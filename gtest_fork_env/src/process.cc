#include "process.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <mutex>

#include "async_safe.h"
#include "test_runner.h"
#include "watchdog.h"

extern char** environ;

#if defined(GTEST_FORK_ENV_COVERAGE)
extern "C" void __gcov_dump();
#endif

namespace gtest_fork_env::detail {

const char* StepName(ChildStep step) {
  switch (step) {
    case ChildStep::kSetpgid: return "setpgid";
    case ChildStep::kStdio: return "redirecting stdio";
    case ChildStep::kChdir: return "chdir";
    case ChildStep::kInherit: return "passing descriptors";
    case ChildStep::kExec: return "exec";
  }
  return "start";
}

namespace {

struct ChildError {
  ChildStep step;
  int error;
};

// Descriptors the parent keeps for its children (the watchdog's command pipe
// and pidfds). Never destroyed: a Process may be destroyed by a static
// destructor that runs after these would have been.
std::mutex& RegistryMutex() {
  static auto* mutex = new std::mutex;
  return *mutex;
}
std::vector<int>& ParentSideFds() {
  static auto* fds = new std::vector<int>;
  return *fds;
}

}  // namespace

void RegisterParentSideFd(int fd) {
  if (fd < 0) return;
  std::lock_guard<std::mutex> lock(RegistryMutex());
  ParentSideFds().push_back(fd);
}

void UnregisterParentSideFd(int fd) {
  if (fd < 0) return;
  std::lock_guard<std::mutex> lock(RegistryMutex());
  auto& fds = ParentSideFds();
  fds.erase(std::remove(fds.begin(), fds.end(), fd), fds.end());
}

namespace {

constexpr size_t kPidDigits = 10;

// Writes `pid` in decimal into `slot` (kPidDigits characters), padded with
// NULs so the entry ends right after the digits. Async-signal-safe.
void WritePid(pid_t pid, char* slot) {
  if (!slot) return;
  size_t count = FormatDecimal(pid, slot);
  for (size_t i = count; i < kPidDigits; ++i) slot[i] = '\0';
}

[[noreturn]] void FailChild(int status_fd, ChildStep step) {
  ChildError report{step, errno};
  ssize_t ignored = write(status_fd, &report, sizeof report);
  (void)ignored;
  _exit(127);
}

// Ends a fork-mode child that called exit() from the server function: it
// runs before the parent's atexit handlers and static destructors (handlers
// run in reverse order of registration), flushes stdio and leaves with the
// same code.
#if defined(__GLIBC__)
void ExitWithoutParentHandlers(int code, void*) {
  std::fflush(nullptr);
  DumpCoverage();
  _exit(code);
}
#else
void ExitWithoutParentHandlers() {
  std::fflush(nullptr);
  DumpCoverage();
  _exit(EXIT_FAILURE);
}
#endif

}  // namespace

void DumpCoverage() {
#if defined(GTEST_FORK_ENV_COVERAGE)
  // gcov writes its counters at exit(); a child that leaves through _exit
  // must write them itself, or the code it ran counts as never run.
  __gcov_dump();
#endif
}

int RunServerFunction(const std::function<int()>& function) {
#if defined(__GLIBC__)
  on_exit(ExitWithoutParentHandlers, nullptr);
#else
  atexit(ExitWithoutParentHandlers);
#endif
  int code = 70;  // EX_SOFTWARE, for an exception
  try {
    code = function();
  } catch (const std::exception& error) {
    std::fprintf(stderr, "gtest_fork_env: the server function threw: %s\n",
                 error.what());
  } catch (...) {
    std::fprintf(stderr,
                 "gtest_fork_env: the server function threw a non-std "
                 "exception\n");
  }
  // _exit does not flush: what the server printed must reach its log.
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  DumpCoverage();
  return code;
}

namespace {

std::string FindInPath(const std::string& program) {
  if (program.find('/') != std::string::npos) return program;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t begin = 0;
  while (begin <= dirs.size()) {
    size_t end = dirs.find(':', begin);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(begin, end - begin);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    begin = end + 1;
  }
  return program;  // execve fails with ENOENT and the parent reports it
}

std::vector<std::string> MergeEnvironment(const std::vector<std::string>& extra) {
  std::vector<std::string> merged;
  for (char** entry = environ; entry && *entry; ++entry) {
    std::string item = *entry;
    std::string name = item.substr(0, item.find('='));
    bool replaced = std::any_of(extra.begin(), extra.end(), [&](const std::string& e) {
      return e.compare(0, name.size() + 1, name + "=") == 0;
    });
    // The runner's per-test files and shard settings are the test's, not
    // the server's (test_runner.h).
    if (!replaced && !IsRunnerVariable(item.c_str())) merged.push_back(std::move(item));
  }
  merged.insert(merged.end(), extra.begin(), extra.end());
  return merged;
}

std::vector<char*> PointersTo(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

}  // namespace

Process::Process(Process&& other) noexcept { *this = std::move(other); }

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    if (started()) KillGroupAndReap();
    pid_ = std::exchange(other.pid_, -1);
    owner_pid_ = std::exchange(other.owner_pid_, -1);
    pidfd_ = std::move(other.pidfd_);
  }
  return *this;
}

Process::~Process() {
  if (started() && owner_pid_ == getpid()) KillGroupAndReap();
}

namespace {

// Everything the child needs, made before the fork: the child only reads it
// (in exec mode, and after the fork of a process with threads, the child may
// not allocate).
struct ChildPlan {
  bool exec_mode = false;
  bool activation = false;  // exec mode with listen_fds (socket activation)
  std::string program;      // exec mode: the resolved file to execute
  std::vector<std::string> argv;
  std::vector<std::string> envp;
  std::vector<char*> argv_ptrs;
  std::vector<char*> envp_ptrs;
  char* listen_pid_slot = nullptr;   // the digits of LISTEN_PID in envp
  std::vector<int> parent_side_fds;  // fork mode: what the child closes
  int watchdog_fd = -1;
  UniqueFd status_read, status_write;  // the child's report: a ChildError or EOF
  UniqueFd dev_null;
};

// The exec-mode environment: the parent's, `request.env` on top, and the
// socket activation variables with a blank LISTEN_PID for the child to fill.
void PrepareEnvironment(const SpawnRequest& request, ChildPlan& plan) {
  std::vector<std::string> extra_env = request.env;
  if (plan.activation) {
    extra_env.push_back("LISTEN_FDS=" + std::to_string(request.listen_fds.size()));
    extra_env.push_back("LISTEN_FDNAMES=" + request.listen_fd_names);
    // The digits are written by the child, which alone knows its pid.
    extra_env.push_back("LISTEN_PID=" + std::string(kPidDigits, ' '));
  }
  plan.envp = MergeEnvironment(extra_env);
  for (std::string& entry : plan.envp) {
    if (plan.activation && entry.compare(0, 11, "LISTEN_PID=") == 0) {
      plan.listen_pid_slot = &entry[11];
    }
  }
}

// Prepares everything that allocates or may fail in the parent: argv, envp,
// the watchdog, the report pipe, /dev/null. Throws std::bad_alloc.
std::error_code PrepareChild(const SpawnRequest& request, ChildPlan& plan) {
  plan.exec_mode = !request.argv.empty();
  plan.activation = plan.exec_mode && !request.listen_fds.empty();
  if (plan.exec_mode) {
    plan.argv = request.argv;
    plan.program = FindInPath(request.program.empty() ? plan.argv[0] : request.program);
    PrepareEnvironment(request, plan);
  }
  plan.argv_ptrs = PointersTo(plan.argv);
  plan.envp_ptrs = PointersTo(plan.envp);
  {
    std::lock_guard<std::mutex> lock(RegistryMutex());
    plan.parent_side_fds = ParentSideFds();
  }
  if (auto error = EnsureWatchdog()) return error;
  plan.watchdog_fd = WatchdogCommandFd();
  if (auto error = MakePipe(plan.status_read, plan.status_write)) return error;
  plan.dev_null = UniqueFd(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!plan.dev_null) return LastError();
  return {};
}

// The child's first steps, in both modes: a process group of its own,
// registered with the watchdog by the child itself, signals as a fresh
// process has them, stdin from /dev/null, stdout and stderr to the log.
void SetUpChild(const SpawnRequest& request, const ChildPlan& plan) {
  const int status_fd = plan.status_write.get();
  if (setpgid(0, 0) != 0) FailChild(status_fd, ChildStep::kSetpgid);
  // Registered before anything else runs: if the test process died right
  // after the fork, the watchdog still learns of this group before it sees
  // end-of-file, and ends it.
  char command[16];
  size_t length = FormatWatchdogCommand('+', getpid(), command);
  if (write(plan.watchdog_fd, command, length) != static_cast<ssize_t>(length)) {
    FailChild(status_fd, ChildStep::kSetpgid);
  }
  close(plan.watchdog_fd);

  // Stop signals may be ignored or blocked in the test binary; the server
  // must see them.
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  if (plan.exec_mode) {
    for (int signal = 1; signal < NSIG; ++signal) {
      if (signal != SIGKILL && signal != SIGSTOP) SetDisposition(signal, SIG_DFL);
    }
  } else {
    SetDisposition(SIGTERM, SIG_DFL);
    SetDisposition(SIGINT, SIG_DFL);
    SetDisposition(SIGHUP, SIG_DFL);
  }

  if (dup2(plan.dev_null.get(), STDIN_FILENO) < 0) FailChild(status_fd, ChildStep::kStdio);
  if (request.output_fd >= 0) {
    if (dup2(request.output_fd, STDOUT_FILENO) < 0 ||
        dup2(request.output_fd, STDERR_FILENO) < 0) {
      FailChild(status_fd, ChildStep::kStdio);
    }
  }
}

// Socket activation: the listening descriptors become 3, 4, ... and
// LISTEN_PID gets this pid. Returns the status descriptor to report an exec
// failure on (moved above the placed descriptors).
int PlaceListenFds(const SpawnRequest& request, const ChildPlan& plan) {
  const int status_fd = plan.status_write.get();
  const int count = static_cast<int>(request.listen_fds.size());
  // Move every source out of 3..3+count first, so that no dup2 below
  // overwrites a source still to be placed, nor the status pipe.
  int status_high = fcntl(status_fd, F_DUPFD_CLOEXEC, 3 + count);
  if (status_high < 0) FailChild(status_fd, ChildStep::kInherit);
  int placed[64];
  if (count > 64) FailChild(status_high, ChildStep::kInherit);
  for (int i = 0; i < count; ++i) {
    placed[i] = fcntl(request.listen_fds[static_cast<size_t>(i)], F_DUPFD_CLOEXEC, 3 + count);
    if (placed[i] < 0) FailChild(status_high, ChildStep::kInherit);
  }
  for (int i = 0; i < count; ++i) {
    if (dup2(placed[i], 3 + i) < 0) FailChild(status_high, ChildStep::kInherit);
  }
  WritePid(getpid(), plan.listen_pid_slot);
  return status_high;
}

// Exec mode, after SetUpChild: working directory, descriptors, execve.
[[noreturn]] void ExecProgram(const SpawnRequest& request, const ChildPlan& plan) {
  const int status_fd = plan.status_write.get();
  if (!request.working_dir.empty() && chdir(request.working_dir.c_str()) != 0) {
    FailChild(status_fd, ChildStep::kChdir);
  }
  // Nothing of the test binary leaks into the program but what the caller
  // passes on purpose.
  MarkCloexecFrom(3);
  const int status_fd_for_exec = plan.activation ? PlaceListenFds(request, plan) : status_fd;
  for (int fd : request.inherit_fds) {
    if (fcntl(fd, F_SETFD, 0) != 0) FailChild(status_fd, ChildStep::kInherit);
  }
  execve(plan.program.c_str(), plan.argv_ptrs.data(), plan.envp_ptrs.data());
  FailChild(status_fd_for_exec, ChildStep::kExec);
}

// The child, from fork to exec or _exit. In exec mode (and in a
// multithreaded parent) only async-signal-safe calls until execve.
[[noreturn]] void RunChild(const SpawnRequest& request, const ChildPlan& plan) {
  SetUpChild(request, plan);
  if (plan.exec_mode) ExecProgram(request, plan);
  for (int fd : plan.parent_side_fds) close(fd);
  close(plan.dev_null.get());
  close(plan.status_read.get());
  close(plan.status_write.get());  // end-of-file: the parent knows we got this far
  ScrubRunnerVariables();          // as an exec'd program's environment is
  _exit(RunServerFunction(request.function));
}

// The parent: waits for the child's report. End-of-file means the child
// reached exec or the server function; a ChildError means a step failed,
// and the child is killed, forgotten by the watchdog and reaped.
std::error_code AwaitChildReport(pid_t pid, ChildPlan& plan, ChildStep* failed_step) {
  // setpgid in both processes, so the group exists whichever runs first;
  // EACCES after the child's exec is harmless.
  setpgid(pid, pid);
  plan.status_write.reset();
  ChildError report;
  ssize_t got = RetryOnEintr([&] { return read(plan.status_read.get(), &report, sizeof report); });
  if (got != static_cast<ssize_t>(sizeof report)) return {};
  kill(-pid, SIGKILL);
  TellWatchdog('-', pid);
  RetryOnEintr([&] { return waitpid(pid, nullptr, 0); });
  if (failed_step) *failed_step = report.step;
  return {report.error, std::system_category()};
}

}  // namespace

std::error_code Process::Start(const SpawnRequest& request,
                               ChildStep* failed_step) noexcept {
  if (started()) return std::make_error_code(std::errc::device_or_resource_busy);
  try {
    ChildPlan plan;
    if (auto error = PrepareChild(request, plan)) return error;
    // Without this, output buffered in the parent's stdio would be written
    // twice: once by the parent and once by a child that flushes its copy.
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid < 0) return LastError();
    if (pid == 0) RunChild(request, plan);
    if (auto error = AwaitChildReport(pid, plan, failed_step)) return error;
    pid_ = pid;
    owner_pid_ = getpid();
    pidfd_ = OpenPidfd(pid);
    RegisterParentSideFd(pidfd_.get());
    return {};
  } catch (const std::bad_alloc&) {
    return std::make_error_code(std::errc::not_enough_memory);
  }
}

std::error_code Process::Adopt(pid_t pid) noexcept {
  if (started()) return std::make_error_code(std::errc::device_or_resource_busy);
  // The clone calls setpgid too: whichever runs first makes the group, and
  // the group exists before anyone signals it.
  if (setpgid(pid, pid) != 0 && errno != EACCES) return LastError();
  if (auto error = EnsureWatchdog()) return error;
  TellWatchdog('+', pid);
  pid_ = pid;
  owner_pid_ = getpid();
  pidfd_ = OpenPidfd(pid);
  RegisterParentSideFd(pidfd_.get());
  return {};
}

std::optional<ExitStatus> Process::Peek() const noexcept {
  if (!started()) return std::nullopt;
  siginfo_t info;
  std::memset(&info, 0, sizeof info);
  int result = RetryOnEintr([&] {
    return waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
  });
  if (result != 0 || info.si_pid == 0) return std::nullopt;
  ExitStatus status;
  if (info.si_code == CLD_EXITED) {
    status.exited = true;
    status.code = info.si_status;
  } else {
    status.signaled = true;
    status.signal = info.si_status;
  }
  return status;
}

std::optional<ExitStatus> Process::WaitForExit(std::chrono::milliseconds timeout) noexcept {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  if (pidfd_) {
    for (;;) {
      if (auto status = Peek()) return status;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return std::nullopt;
      struct pollfd event = {pidfd_.get(), POLLIN, 0};
      // +1: poll rounds down, and an early wake-up only loops once more.
      if (RetryOnEintr([&] { return poll(&event, 1, static_cast<int>(left.count()) + 1); }) < 0) {
        return Peek();
      }
    }
  }
  auto pause = std::chrono::microseconds(1000);
  for (;;) {
    if (auto status = Peek()) return status;
    if (Clock::now() >= deadline) return std::nullopt;
    struct timespec delay = {0, static_cast<long>(pause.count()) * 1000};
    nanosleep(&delay, nullptr);
    pause = std::min(pause * 2, std::chrono::microseconds(10000));
  }
}

std::error_code Process::SignalGroup(int signal) noexcept {
  if (!started()) return std::make_error_code(std::errc::no_such_process);
  if (kill(-pid_, signal) != 0) return LastError();
  return {};
}

ExitStatus Process::Stop(std::chrono::milliseconds grace, bool* forced) noexcept {
  if (forced) *forced = false;
  if (!started()) return ExitStatus{};
  if (!Peek()) {
    SignalGroup(SIGTERM);
    if (!WaitForExit(grace)) {
      if (forced) *forced = true;
    }
  }
  return KillGroupAndReap();
}

ExitStatus Process::KillGroupAndReap() noexcept {
  // The child is not reaped yet, so the group id (its pid) cannot have been
  // reused; the watchdog forgets the group before the reap frees the number.
  kill(-pid_, SIGKILL);
  TellWatchdog('-', pid_);
  int wait_status = 0;
  RetryOnEintr([&] { return waitpid(pid_, &wait_status, 0); });
  ExitStatus status = ExitStatus::FromWaitStatus(wait_status);
  Reset();
  return status;
}

void Process::Reset() noexcept {
  UnregisterParentSideFd(pidfd_.get());
  pidfd_.reset();
  pid_ = -1;
  owner_pid_ = -1;
}

std::vector<pid_t> Process::OtherGroupMembers() const {
  std::vector<pid_t> members;
  if (!started()) return members;
  DIR* proc = opendir("/proc");
  if (!proc) return members;
  while (struct dirent* entry = readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(entry->d_name, &end, 10);
    if (pid <= 0 || *end != '\0' || pid == pid_) continue;
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    UniqueFd fd(open(path, O_RDONLY | O_CLOEXEC));
    if (!fd) continue;
    char stat[512];
    ssize_t got = read(fd.get(), stat, sizeof stat - 1);
    if (got <= 0) continue;
    stat[got] = '\0';
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parens.
    const char* after_comm = std::strrchr(stat, ')');
    char state;
    long ppid, pgrp;
    if (!after_comm || std::sscanf(after_comm + 1, " %c %ld %ld", &state, &ppid, &pgrp) != 3) {
      continue;
    }
    if (pgrp == pid_ && state != 'Z') members.push_back(static_cast<pid_t>(pid));
  }
  closedir(proc);
  return members;
}


}  // namespace gtest_fork_env::detail
