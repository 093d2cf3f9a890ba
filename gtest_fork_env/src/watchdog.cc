#include "watchdog.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "async_safe.h"
#include "process.h"
#include "raw_syscall.h"
#include "unique_fd.h"

namespace gtest_fork_env::detail {

namespace {

// The watchdog's tables: fixed, filled and used with syscalls only. It may
// run in the test process's memory (StartWatchdogProcess), so these are the
// only memory it writes besides its stack.
//
// Process groups to end once the test process is gone ("+<pgid>" adds one,
// "-<pgid>" removes it).
constexpr size_t kMaxGroups = 4096;
pid_t g_groups[kMaxGroups];
size_t g_group_count = 0;

// Directories to remove after that ("r<dir>" lines): the TLS material of
// Options::tls, so that no key outlives a SIGKILLed test binary.
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
// Async-signal-safe and errno-free: raw getdents64 and unlinkat, no
// opendir (it allocates).
void RemoveWatchedDirectory(const char* dir) {
  const long fd = RawSyscall(SYS_openat, AT_FDCWD, reinterpret_cast<long>(dir),
                             O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd >= 0) {
    alignas(8) char entries[4096];
    for (int round = 0; round < 64; ++round) {
      long got = RawSyscall(SYS_getdents64, fd, reinterpret_cast<long>(entries), sizeof entries);
      if (got <= 0) break;
      for (long offset = 0; offset < got;) {
        // struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name.
        unsigned short reclen;
        std::memcpy(&reclen, entries + offset + 16, sizeof reclen);
        const char* name = entries + offset + 19;
        if (!(name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))) {
          RawSyscall(SYS_unlinkat, fd, reinterpret_cast<long>(name), 0);
        }
        offset += reclen;
      }
    }
    RawSyscall(SYS_close, fd);
  }
  RawSyscall(SYS_unlinkat, AT_FDCWD, reinterpret_cast<long>(dir), AT_REMOVEDIR);
}

// Applies one command line (without its '\n') to the tables.
void ApplyCommand(const char* line, size_t length) {
  if (length == 0) return;
  if (line[0] == 'r') {
    WatchDirectory(line, length);
    return;
  }
  long pgid = 0;
  for (size_t j = 1; j < length && line[j] >= '0' && line[j] <= '9'; ++j) {
    pgid = pgid * 10 + (line[j] - '0');
  }
  if (pgid <= 0) return;
  if (line[0] == '+' && g_group_count < kMaxGroups) {
    g_groups[g_group_count++] = static_cast<pid_t>(pgid);
  } else if (line[0] == '-') {
    for (size_t j = 0; j < g_group_count; ++j) {
      if (g_groups[j] == pgid) {
        g_groups[j] = g_groups[--g_group_count];
        break;
      }
    }
  }
}

// Reads and applies commands from `fd` until end-of-file (or an error):
// the test process, the only holder of the write end, is gone.
void ReadCommands(int fd) {
  static char line[kWatchedDirLength + 2];
  size_t used = 0;
  for (;;) {
    char buffer[512];
    const long got = RawSyscallRetrying(SYS_read, fd, reinterpret_cast<long>(buffer), sizeof buffer);
    if (got <= 0) return;
    for (long i = 0; i < got; ++i) {
      if (buffer[i] != '\n') {
        if (used < sizeof line) line[used++] = buffer[i];
        continue;
      }
      ApplyCommand(line, used);
      used = 0;
    }
  }
}

// Closes the descriptors from `first` to `last`: close_range where the
// kernel has it (5.9+), else one by one (unused descriptors just fail,
// errno-free).
void CloseRange(unsigned first, unsigned last) {
#if defined(SYS_close_range)
  if (RawSyscall(SYS_close_range, first, last, 0) == 0) return;
#endif
  for (unsigned fd = first; fd <= last && fd < 65536; ++fd) RawSyscall(SYS_close, fd);
}

// Blocks the signals that would end it with the test process's group (a
// Ctrl-C): blocked, they stay pending and never act. The raw mask call is
// the same on every architecture, unlike the kernel's sigaction structure.
void BlockStopSignals() {
  unsigned long mask = 0;
  for (int signal : {SIGTERM, SIGINT, SIGHUP}) mask |= 1UL << (signal - 1);
  RawSyscall(SYS_rt_sigprocmask, SIG_BLOCK, reinterpret_cast<long>(&mask), 0, sizeof mask);
}

// The watchdog's body. It reads "+<pgid>", "-<pgid>" and "r<dir>" lines
// from a pipe whose write end only the test process keeps (a server child
// holds it just long enough to register its own group). End-of-file means
// the test process is gone, in whatever way: the watchdog then ends every
// group still registered (SIGTERM, then SIGKILL 100 ms later) and removes
// the directories. Async-signal-safe throughout, since the test process may
// have threads when it forks it; hence the fixed tables. It may run in the
// test process's memory (StartWatchdogProcess): it must touch nothing but
// its stack and its tables, and no call of it may fail while the test
// process lives (errno is the starting thread's). So every system call it
// makes is a raw one (raw_syscall.h), which leaves errno alone: killing a
// group that is already gone, say, fails with ESRCH while the test thread
// that started it may still run, or may have exited and freed its TLS.
[[noreturn]] void RunWatchdog(int command_fd) {
  // The tables may hold a copy of another watchdog's entries: this process
  // may be a forked copy of a test process (a fast death test) that starts
  // servers of its own.
  g_group_count = 0;
  g_watched_dir_count = 0;
  RawSyscall(SYS_setpgid, 0, 0);
  BlockStopSignals();
  if (command_fd != 3) RawSyscall(SYS_dup3, command_fd, 3, 0);
  // Hold nothing of the parent's: not its stdout pipe (ctest waits for it to
  // close) and no server's descriptors.
  CloseRange(0, 2);
  CloseRange(4, ~0U);
  ReadCommands(3);
  // The test process is gone: nobody will stop these groups any more.
  if (g_group_count > 0) {
    for (size_t j = 0; j < g_group_count; ++j) RawSyscall(SYS_kill, -g_groups[j], SIGTERM);
    struct timespec grace = {0, 100 * 1000 * 1000};
    RawSyscallRetrying(SYS_nanosleep, reinterpret_cast<long>(&grace), 0);
    for (size_t j = 0; j < g_group_count; ++j) RawSyscall(SYS_kill, -g_groups[j], SIGKILL);
  }
  for (size_t j = 0; j < g_watched_dir_count; ++j) RemoveWatchedDirectory(g_watched_dirs[j]);
  for (;;) RawSyscall(SYS_exit_group, 0);
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
  static auto* watchdog = new Watchdog;  // never destroyed: a static destructor may still need it
  return *watchdog;
}

int WatchdogEntry(void* command_fd) {
  RunWatchdog(static_cast<int>(reinterpret_cast<intptr_t>(command_fd)));
}

// Whether the watchdog may share the test process's memory (clone with
// CLONE_VM, as posix_spawn does, but without exec). Only where its system
// calls can be raw ones (raw_syscall.h), which leave the test thread's
// errno alone. Not under ASan or TSan,
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
#if defined(__linux__) && defined(GTEST_FORK_ENV_HAVE_RAW_SYSCALL)
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
// most kWatchdogExitWaitMs. Without it every test process would leave a
// zombie where PID 1 does not reap (a container without an init). Servers
// still registered at that point are ended by the watchdog as after a crash
// (their 100 ms grace fits in the wait). If something else still holds the
// write end (a forked copy of the test process), the watchdog goes on
// watching and is left unreaped, as before.
constexpr int kWatchdogExitWaitMs = 300;

// Waits at most kWatchdogExitWaitMs for the watchdog to exit, without
// reaping it.
void AwaitWatchdogExit(pid_t pid) {
  UniqueFd exit_fd = OpenPidfd(pid);
  if (exit_fd) {
    struct pollfd event = {exit_fd.get(), POLLIN, 0};
    RetryOnEintr([&] { return poll(&event, 1, kWatchdogExitWaitMs); });
    return;
  }
  for (int waited = 0; waited < kWatchdogExitWaitMs; waited += 2) {
    siginfo_t info{};
    if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
        info.si_pid != 0) {
      return;
    }
    struct timespec pause = {0, 2 * 1000 * 1000};
    nanosleep(&pause, nullptr);
  }
}

void EndWatchdogAtExit() {
  Watchdog& watchdog = TheWatchdog();
  if (watchdog.pid <= 0 || watchdog.owner != getpid() || watchdog.command_fd < 0) return;
  const int saved_errno = errno;
  UnregisterParentSideFd(watchdog.command_fd);
  close(watchdog.command_fd);
  watchdog.command_fd = -1;
  AwaitWatchdogExit(watchdog.pid);
  if (RetryOnEintr([&] { return waitpid(watchdog.pid, nullptr, WNOHANG); }) == watchdog.pid) {
    watchdog.pid = -1;
  }
  errno = saved_errno;
}

}  // namespace

std::error_code EnsureWatchdog() noexcept {
  Watchdog& watchdog = TheWatchdog();
  if (watchdog.pid > 0 && watchdog.owner == getpid()) return {};
  if (watchdog.command_fd >= 0) {
    // Inherited from the process we were forked from: not ours to feed.
    UnregisterParentSideFd(watchdog.command_fd);
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
  RegisterParentSideFd(watchdog.command_fd);
  static pid_t registered_for = -1;  // once per process (a forked copy registers again)
  if (registered_for != getpid()) {
    registered_for = getpid();
    std::atexit(EndWatchdogAtExit);
  }
  return {};
}

int WatchdogCommandFd() noexcept { return TheWatchdog().command_fd; }

size_t FormatWatchdogCommand(char sign, pid_t pid, char* buffer) noexcept {
  size_t length = 0;
  buffer[length++] = sign;
  length += FormatDecimal(pid, buffer + length);
  buffer[length++] = '\n';
  return length;
}

void TellWatchdog(char sign, pid_t pgid) noexcept {
  const Watchdog& watchdog = TheWatchdog();
  if (watchdog.command_fd < 0 || watchdog.owner != getpid()) return;
  char command[16];
  size_t length = FormatWatchdogCommand(sign, pgid, command);
  WriteAll(watchdog.command_fd, command, length);
}

std::error_code WatchdogRemovesDirectory(const std::string& dir) noexcept {
  if (dir.empty() || dir[0] != '/' || dir.size() >= kWatchedDirLength ||
      dir.find('\n') != std::string::npos) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  if (auto error = EnsureWatchdog()) return error;
  try {
    const std::string command = "r" + dir + "\n";
    return WriteAll(TheWatchdog().command_fd, command.data(), command.size());
  } catch (const std::bad_alloc&) {
    return std::make_error_code(std::errc::not_enough_memory);
  }
}

}  // namespace gtest_fork_env::detail
