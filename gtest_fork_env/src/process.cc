#include "process.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <mutex>

#include "test_runner.h"

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
// and pidfds). A fork-mode child closes them all: if it kept the command pipe
// open, the watchdog could not see the test binary die.
// Never destroyed: a Process may be destroyed by a static destructor that
// runs after these would have been.
std::mutex& RegistryMutex() {
  static auto* mutex = new std::mutex;
  return *mutex;
}
std::vector<int>& ParentSideFds() {
  static auto* fds = new std::vector<int>;
  return *fds;
}
void RegisterFd(int fd) {
  if (fd < 0) return;
  std::lock_guard<std::mutex> lock(RegistryMutex());
  ParentSideFds().push_back(fd);
}
void UnregisterFd(int fd) {
  if (fd < 0) return;
  std::lock_guard<std::mutex> lock(RegistryMutex());
  auto& fds = ParentSideFds();
  fds.erase(std::remove(fds.begin(), fds.end(), fd), fds.end());
}

void CloseFrom(int first_fd) {
#if defined(__linux__) && defined(SYS_close_range)
  if (syscall(SYS_close_range, first_fd, ~0U, 0) == 0) return;
#endif
  long max_fd = sysconf(_SC_OPEN_MAX);
  if (max_fd < 0 || max_fd > 65536) max_fd = 65536;
  for (int fd = first_fd; fd < max_fd; ++fd) close(fd);
}

void MarkCloexecFrom(int first_fd) {
#if defined(__linux__) && defined(SYS_close_range) && defined(CLOSE_RANGE_CLOEXEC)
  if (syscall(SYS_close_range, first_fd, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
#endif
  long max_fd = sysconf(_SC_OPEN_MAX);
  if (max_fd < 0 || max_fd > 65536) max_fd = 65536;
  for (int fd = first_fd; fd < max_fd; ++fd) fcntl(fd, F_SETFD, FD_CLOEXEC);
}

void SetDisposition(int signal, void (*handler)(int)) {
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  sigaction(signal, &action, nullptr);
}

// "<sign><pid>\n" into `buffer` (at least 16 bytes); returns its length.
// Async-signal-safe: a server child writes its own registration.
size_t FormatCommand(char sign, pid_t pid, char* buffer) {
  char digits[12];
  size_t count = 0;
  unsigned long value = static_cast<unsigned long>(pid);
  do {
    digits[count++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0 && count < sizeof digits);
  size_t length = 0;
  buffer[length++] = sign;
  while (count > 0) buffer[length++] = digits[--count];
  buffer[length++] = '\n';
  return length;
}

// Directories the watchdog removes once the test process is gone ("r<dir>"
// lines): the TLS material of Options::tls, so that no key outlives a
// SIGKILLed test binary. A fixed table, filled and used with syscalls only.
constexpr size_t kWatchedDirs = 8;
constexpr size_t kWatchedDirLength = 4096;
char g_watched_dirs[kWatchedDirs][kWatchedDirLength];
size_t g_watched_dir_count = 0;

void WatchDirectory(const char* line, size_t length) {
  if (g_watched_dir_count >= kWatchedDirs || length < 2 || length >= kWatchedDirLength) return;
  if (line[1] != '/') return;  // absolute paths only: the watchdog's cwd is not the test's
  char* slot = g_watched_dirs[g_watched_dir_count++];
  for (size_t i = 1; i < length; ++i) slot[i - 1] = line[i];
  slot[length - 1] = '\0';
}

// Unlinks the entries of `dir` (not recursively) and the directory.
// Async-signal-safe: getdents64 and unlinkat, no opendir (it allocates).
void RemoveWatchedDirectory(const char* dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd >= 0) {
    alignas(8) char entries[4096];
    for (int round = 0; round < 64; ++round) {
      long got = syscall(SYS_getdents64, fd, entries, sizeof entries);
      if (got <= 0) break;
      for (long offset = 0; offset < got;) {
        // struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name.
        unsigned short reclen;
        std::memcpy(&reclen, entries + offset + 16, sizeof reclen);
        const char* name = entries + offset + 19;
        if (!(name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))) {
          unlinkat(fd, name, 0);
        }
        offset += reclen;
      }
    }
    close(fd);
  }
  rmdir(dir);
}

// Closes descriptors 0 to 2 without a failing call where close_range
// exists (see StartWatchdogProcess: errno may be the test process's).
void CloseStdio() {
#if defined(__linux__) && defined(SYS_close_range)
  if (syscall(SYS_close_range, 0, 2, 0) == 0) return;
#endif
  for (int fd = 0; fd < 3; ++fd) close(fd);
}

// The watchdog: one per test process, its child, in a process group of its
// own. It reads "+<pgid>" and "-<pgid>" lines from a pipe whose write end
// only the test process keeps (a server child holds it just long enough to
// register its own group). End-of-file means the test process is gone, in
// whatever way: the watchdog then ends every group still registered
// (SIGTERM, then SIGKILL 100 ms later). Async-signal-safe throughout, since
// the test process may have threads when it forks it; hence the fixed table.
// It may run in the test process's memory (StartWatchdogProcess): it must
// touch nothing but its stack and its table, and no call of it may fail
// while the test process lives (errno is the starting thread's).
[[noreturn]] void RunWatchdog(int command_fd) {
  // The table may hold a copy of another watchdog's entries: this process
  // may be a forked copy of a test process (a fast death test) that starts
  // servers of its own.
  g_watched_dir_count = 0;
  setpgid(0, 0);
  SetDisposition(SIGTERM, SIG_IGN);
  SetDisposition(SIGINT, SIG_IGN);
  SetDisposition(SIGHUP, SIG_IGN);
  if (command_fd != 3) dup2(command_fd, 3);
  // Hold nothing of the parent's: not its stdout pipe (ctest waits for it to
  // close) and no server's descriptors.
  CloseStdio();
  CloseFrom(4);
  static pid_t groups[4096];
  size_t count = 0;
  static char line[kWatchedDirLength + 2];
  size_t used = 0;
  for (;;) {
    char buffer[512];
    ssize_t got = read(3, buffer, sizeof buffer);
    if (got == 0) break;
    if (got < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (ssize_t i = 0; i < got; ++i) {
      if (buffer[i] != '\n') {
        if (used < sizeof line) line[used++] = buffer[i];
        continue;
      }
      if (used > 0 && line[0] == 'r') {
        WatchDirectory(line, used);
        used = 0;
        continue;
      }
      long pgid = 0;
      for (size_t j = 1; j < used && line[j] >= '0' && line[j] <= '9'; ++j) {
        pgid = pgid * 10 + (line[j] - '0');
      }
      if (pgid > 0 && used > 0 && line[0] == '+' && count < sizeof groups / sizeof groups[0]) {
        groups[count++] = static_cast<pid_t>(pgid);
      } else if (pgid > 0 && used > 0 && line[0] == '-') {
        for (size_t j = 0; j < count; ++j) {
          if (groups[j] == pgid) {
            groups[j] = groups[--count];
            break;
          }
        }
      }
      used = 0;
    }
  }
  // The test process is gone: nobody will stop these groups any more.
  if (count > 0) {
    for (size_t j = 0; j < count; ++j) kill(-groups[j], SIGTERM);
    struct timespec grace = {0, 100 * 1000 * 1000};
    nanosleep(&grace, nullptr);
    for (size_t j = 0; j < count; ++j) kill(-groups[j], SIGKILL);
  }
  for (size_t j = 0; j < g_watched_dir_count; ++j) RemoveWatchedDirectory(g_watched_dirs[j]);
  _exit(0);
}

// This process's watchdog. A forked copy of the test process (a middle
// process that starts servers of its own) makes its own, since the inherited
// one watches the original.
struct Watchdog {
  pid_t pid = -1;
  pid_t owner = -1;
  int command_fd = -1;  // write end, close-on-exec
};

Watchdog& TheWatchdog() {
  static auto* watchdog = new Watchdog;  // never destroyed, like the registry
  return *watchdog;
}

int WatchdogEntry(void* command_fd) {
  RunWatchdog(static_cast<int>(reinterpret_cast<intptr_t>(command_fd)));
}

// Whether the watchdog may share the test process's memory (clone with
// CLONE_VM, as posix_spawn does, but without exec). Not under ASan or TSan,
// whose per-thread state the clone would share; and only from Linux 5.16 on:
// before it, a test binary that dumps core takes every process sharing its
// memory down with it (zap_threads), the watchdog included.
bool MayShareMemory() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
  return false;
#endif
#endif
#if defined(__linux__)
  struct utsname names;
  int major = 0, minor = 0;
  if (uname(&names) != 0 || std::sscanf(names.release, "%d.%d", &major, &minor) != 2) return false;
  return major > 5 || (major == 5 && minor >= 16);
#else
  return false;
#endif
}

// Starts the watchdog process reading `command_fd`; its pid, or -1.
// fork() copies the test process's page tables and leaves every page it
// writes afterwards to a copy-on-write fault, for as long as the watchdog
// lives: about 1 to 3 ms per test process here (docs/benchmarks.md). A clone
// that shares the memory costs what a thread does; the watchdog needs only
// its own stack, its descriptor table and its signal dispositions.
pid_t StartWatchdogProcess(int command_fd) {
#if defined(__linux__)
  constexpr size_t kStackBytes = 64 * 1024;
  static void* stack = nullptr;  // one per process, never unmapped: it may still run
  if (MayShareMemory()) {
    if (!stack) {
      stack = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
      if (stack == MAP_FAILED) stack = nullptr;
    }
    if (stack) {
      pid_t pid = clone(WatchdogEntry, static_cast<char*>(stack) + kStackBytes,
                        CLONE_VM | SIGCHLD, reinterpret_cast<void*>(intptr_t{command_fd}));
      if (pid > 0) return pid;
    }
  }
#endif
  pid_t pid = fork();
  if (pid == 0) RunWatchdog(command_fd);
  return pid;
}

// At a normal exit of the process that owns the watchdog: close the command
// pipe, so the watchdog reads end-of-file and exits, and reap it, waiting at
// most kWatchdogExitWait. Without it every test process would leave a zombie
// where PID 1 does not reap (a container without an init). Servers still
// registered at that point are ended by the watchdog as after a crash (their
// 100 ms grace fits in the wait). If something else still holds the write
// end (a forked copy of the test process), the watchdog goes on watching
// and is left unreaped, as before.
constexpr int kWatchdogExitWaitMs = 300;

UniqueFd OpenPidfd(pid_t pid);

void EndWatchdogAtExit() {
  Watchdog& watchdog = TheWatchdog();
  if (watchdog.pid <= 0 || watchdog.owner != getpid() || watchdog.command_fd < 0) return;
  const int saved_errno = errno;
  UnregisterFd(watchdog.command_fd);
  close(watchdog.command_fd);
  watchdog.command_fd = -1;
  UniqueFd exit_fd = OpenPidfd(watchdog.pid);
  if (exit_fd) {
    struct pollfd event = {exit_fd.get(), POLLIN, 0};
    RetryOnEintr([&] { return poll(&event, 1, kWatchdogExitWaitMs); });
  } else {
    for (int waited = 0; waited < kWatchdogExitWaitMs; waited += 2) {
      siginfo_t info{};
      if (waitid(P_PID, static_cast<id_t>(watchdog.pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
          info.si_pid != 0) {
        break;
      }
      struct timespec pause = {0, 2 * 1000 * 1000};
      nanosleep(&pause, nullptr);
    }
  }
  if (RetryOnEintr([&] { return waitpid(watchdog.pid, nullptr, WNOHANG); }) == watchdog.pid) {
    watchdog.pid = -1;
  }
  errno = saved_errno;
}

constexpr size_t kPidDigits = 10;

// Writes `pid` in decimal into `slot` (kPidDigits characters), padded with
// NULs so the entry ends right after the digits. Async-signal-safe.
void WritePid(pid_t pid, char* slot) {
  if (!slot) return;
  char digits[kPidDigits];
  size_t count = 0;
  unsigned long value = static_cast<unsigned long>(pid);
  do {
    digits[count++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0 && count < kPidDigits);
  for (size_t i = 0; i < kPidDigits; ++i) slot[i] = i < count ? digits[count - 1 - i] : '\0';
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

// Starts this process's watchdog if it has none yet.
std::error_code EnsureWatchdog() {
  Watchdog& watchdog = TheWatchdog();
  if (watchdog.pid > 0 && watchdog.owner == getpid()) return {};
  if (watchdog.command_fd >= 0) {
    // Inherited from the process we were forked from: not ours to feed.
    UnregisterFd(watchdog.command_fd);
    close(watchdog.command_fd);
    watchdog = Watchdog{};
  }
  UniqueFd read_end, write_end;
  if (auto error = MakePipe(read_end, write_end)) return error;
  pid_t pid = StartWatchdogProcess(read_end.get());
  if (pid < 0) return LastError();
  setpgid(pid, pid);
  watchdog.pid = pid;
  watchdog.owner = getpid();
  watchdog.command_fd = write_end.release();
  // A fork-mode server closes it after registering, like the pidfds.
  RegisterFd(watchdog.command_fd);
  static pid_t registered_for = -1;  // once per process (a forked copy registers again)
  if (registered_for != getpid()) {
    registered_for = getpid();
    std::atexit(EndWatchdogAtExit);
  }
  return {};
}

void TellWatchdog(char sign, pid_t pgid) {
  const Watchdog& watchdog = TheWatchdog();
  if (watchdog.command_fd < 0 || watchdog.owner != getpid()) return;
  char command[16];
  size_t length = FormatCommand(sign, pgid, command);
  WriteAll(watchdog.command_fd, command, length);
}

}  // namespace

std::error_code WatchdogRemovesDirectory(const std::string& dir) noexcept {
  if (dir.empty() || dir[0] != '/' || dir.size() >= kWatchedDirLength ||
      dir.find('\n') != std::string::npos) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  if (auto error = EnsureWatchdog()) return error;
  const std::string command = "r" + dir + "\n";
  return WriteAll(TheWatchdog().command_fd, command.data(), command.size());
}

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

UniqueFd OpenPidfd(pid_t pid) {
#if defined(__linux__) && defined(SYS_pidfd_open)
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd >= 0) {
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    return UniqueFd(fd);
  }
#endif
  (void)pid;
  return UniqueFd();
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

std::error_code Process::Start(const SpawnRequest& request,
                               ChildStep* failed_step) noexcept {
  if (started()) return std::make_error_code(std::errc::device_or_resource_busy);
  const bool exec_mode = !request.argv.empty();
  try {
    // Everything that allocates happens here, before the fork.
    std::vector<std::string> argv = request.argv;
    std::string program = !exec_mode ? std::string()
                          : FindInPath(request.program.empty() ? argv[0] : request.program);
    std::vector<std::string> extra_env = request.env;
    const bool activation = exec_mode && !request.listen_fds.empty();
    if (activation) {
      extra_env.push_back("LISTEN_FDS=" + std::to_string(request.listen_fds.size()));
      extra_env.push_back("LISTEN_FDNAMES=" + request.listen_fd_names);
      // The digits are written by the child, which alone knows its pid.
      extra_env.push_back("LISTEN_PID=" + std::string(kPidDigits, ' '));
    }
    std::vector<std::string> envp = exec_mode ? MergeEnvironment(extra_env)
                                              : std::vector<std::string>();
    char* listen_pid_slot = nullptr;
    for (std::string& entry : envp) {
      if (activation && entry.compare(0, 11, "LISTEN_PID=") == 0) listen_pid_slot = &entry[11];
    }
    std::vector<char*> argv_ptrs = PointersTo(argv);
    std::vector<char*> envp_ptrs = PointersTo(envp);
    std::vector<int> parent_side_fds;
    {
      std::lock_guard<std::mutex> lock(RegistryMutex());
      parent_side_fds = ParentSideFds();
    }

    if (auto error = EnsureWatchdog()) return error;
    const int watchdog_fd = TheWatchdog().command_fd;
    UniqueFd status_read, status_write;
    if (auto error = MakePipe(status_read, status_write)) return error;
    UniqueFd dev_null(open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!dev_null) return LastError();

    // Without this, output buffered in the parent's stdio would be written
    // twice: once by the parent and once by a child that flushes its copy.
    std::fflush(nullptr);

    pid_t pid = fork();
    if (pid < 0) return LastError();
    if (pid == 0) {
      // The child. In exec mode (and in a multithreaded parent) only
      // async-signal-safe calls until execve.
      const int status_fd = status_write.get();
      if (setpgid(0, 0) != 0) FailChild(status_fd, ChildStep::kSetpgid);
      // Registered by the child itself, before anything else runs: if the
      // test process died right after the fork, the watchdog still learns of
      // this group before it sees end-of-file, and ends it.
      char command[16];
      size_t length = FormatCommand('+', getpid(), command);
      if (write(watchdog_fd, command, length) != static_cast<ssize_t>(length)) {
        FailChild(status_fd, ChildStep::kSetpgid);
      }
      close(watchdog_fd);

      // Stop signals may be ignored or blocked in the test binary; the server
      // must see them.
      sigset_t all;
      sigemptyset(&all);
      sigprocmask(SIG_SETMASK, &all, nullptr);
      if (exec_mode) {
        for (int signal = 1; signal < NSIG; ++signal) {
          if (signal != SIGKILL && signal != SIGSTOP) SetDisposition(signal, SIG_DFL);
        }
      } else {
        SetDisposition(SIGTERM, SIG_DFL);
        SetDisposition(SIGINT, SIG_DFL);
        SetDisposition(SIGHUP, SIG_DFL);
      }

      if (dup2(dev_null.get(), STDIN_FILENO) < 0) FailChild(status_fd, ChildStep::kStdio);
      if (request.output_fd >= 0) {
        if (dup2(request.output_fd, STDOUT_FILENO) < 0 ||
            dup2(request.output_fd, STDERR_FILENO) < 0) {
          FailChild(status_fd, ChildStep::kStdio);
        }
      }

      if (!exec_mode) {
        for (int fd : parent_side_fds) close(fd);
        close(dev_null.get());
        close(status_read.get());
        close(status_fd);  // end-of-file: the parent knows we got this far
        ScrubRunnerVariables();  // as an exec'd program's environment is
        _exit(RunServerFunction(request.function));
      }

      int status_fd_for_exec = status_fd;
      if (!request.working_dir.empty() && chdir(request.working_dir.c_str()) != 0) {
        FailChild(status_fd, ChildStep::kChdir);
      }
      // Nothing of the test binary leaks into the program but what the caller
      // passes on purpose.
      MarkCloexecFrom(3);
      if (activation) {
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
        WritePid(getpid(), listen_pid_slot);
        status_fd_for_exec = status_high;
      }
      for (int fd : request.inherit_fds) {
        if (fcntl(fd, F_SETFD, 0) != 0) FailChild(status_fd, ChildStep::kInherit);
      }
      execve(program.c_str(), argv_ptrs.data(), envp_ptrs.data());
      FailChild(status_fd_for_exec, ChildStep::kExec);
    }

    // The parent. setpgid in both processes, so the group exists whichever
    // runs first; EACCES after the child's exec is harmless.
    setpgid(pid, pid);
    status_write.reset();

    ChildError report;
    ssize_t got = RetryOnEintr([&] { return read(status_read.get(), &report, sizeof report); });
    if (got == static_cast<ssize_t>(sizeof report)) {
      kill(-pid, SIGKILL);
      TellWatchdog('-', pid);
      RetryOnEintr([&] { return waitpid(pid, nullptr, 0); });
      if (failed_step) *failed_step = report.step;
      return {report.error, std::system_category()};
    }

    pid_ = pid;
    owner_pid_ = getpid();
    pidfd_ = OpenPidfd(pid);
    RegisterFd(pidfd_.get());
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
  RegisterFd(pidfd_.get());
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
  UnregisterFd(pidfd_.get());
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
