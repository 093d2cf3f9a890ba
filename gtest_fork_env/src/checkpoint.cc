#include "checkpoint.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "huge_pages.h"
#include "template_protocol.h"
#include "unique_fd.h"

namespace gtest_fork_env::detail {
namespace {

volatile std::sig_atomic_t g_stop_requested = 0;

extern "C" void OnTemplateStop(int) { g_stop_requested = 1; }

// A child of this process's parent (the test process), not of this process:
// so the test process reaps every clone itself and reads its exit status,
// as it does for the server it started. glibc's fork() cannot do this; the
// raw system call can. Safe because the template has one thread: no lock
// can be held by a thread that does not exist in the clone.
pid_t CloneIntoParent() {
  return static_cast<pid_t>(
      syscall(SYS_clone, CLONE_PARENT | SIGCHLD, nullptr, nullptr, nullptr, nullptr));
}

// The template's state: its stop signals, the clones it made and still
// watches (to kill them if the test process vanishes before it could
// register them with its watchdog).
class Template {
 public:
  explicit Template(int control_fd) : control_fd_(control_fd) {}

  // Serves clone requests; returns only in a clone, with its data directory.
  std::string Run() {
    test_process_ = getppid();
    template_pid_ = getpid();
    CatchStopSignals();
    MessageReader reader;
    int pause_ms = 0;
    for (;;) {
      struct pollfd event = {control_fd_, POLLIN, 0};
      sigset_t none;
      sigemptyset(&none);
      // Idle with huge-page work to do: wait for orders only as long as the
      // last step asked.
      const struct timespec pause = {0, pause_ms * 1000L * 1000L};
      const bool busy = huge_pages_.HasWork();
      int ready = ppoll(&event, 1, busy ? &pause : nullptr, &none);  // stop signals only here
      if (g_stop_requested) Exit();
      if (ready == 0 && busy) pause_ms = huge_pages_.Step();
      if (ready <= 0) continue;
      if (!reader.Fill(control_fd_)) Exit();  // the test process is gone or done
      TemplateMessage order;
      while (reader.Next(&order)) {
        const bool spare = order.kind == TemplateMessage::Kind::kSpare;
        if (!spare && order.kind != TemplateMessage::Kind::kClone) continue;
        if (!MakeClone()) {
          if (++orders_served_ == kOrdersBeforeHugePages) huge_pages_.Plan();
          continue;
        }
        if (spare) AwaitGo();
        sigprocmask(SIG_SETMASK, &saved_mask_, nullptr);
        return order.text;
      }
    }
  }

 private:
  // Also blocks SpareGoSignal(), in the template and so in every clone from
  // its first instruction: a go that comes before a spare waits for it is
  // kept pending, not taken as a fatal signal.
  void CatchStopSignals() {
    sigset_t stops;
    sigemptyset(&stops);
    for (int signal : kStopSignal) sigaddset(&stops, signal);
    sigaddset(&stops, SpareGoSignal());
    sigprocmask(SIG_BLOCK, &stops, &saved_mask_);
    struct sigaction action;
    std::memset(&action, 0, sizeof action);
    action.sa_handler = OnTemplateStop;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < kStopSignals; ++i) {
      sigaction(kStopSignal[i], &action, &saved_actions_[i]);
    }
  }

  // The signal mask stays as the template's until the clone returns (Run).
  void RestoreSignalActions() {
    for (size_t i = 0; i < kStopSignals; ++i) sigaction(kStopSignal[i], &saved_actions_[i], nullptr);
  }

  // Takes the go from the test process alone. Checks every 100 ms that the
  // test process and the template still live: a spare that nobody may
  // know of (its test process was SIGKILLed before it registered the spare
  // with its watchdog, or the template died before it reported the spare)
  // ends by itself, and so frees the listening socket it shares.
  void AwaitGo() {
    const UniqueFd template_exit = OpenPidfd(template_pid_);  // -1 without pidfds
    sigset_t go;
    sigemptyset(&go);
    sigaddset(&go, SpareGoSignal());
    for (;;) {
      siginfo_t info;
      struct timespec tick = {0, 100 * 1000 * 1000};
      const int got = sigtimedwait(&go, &info, &tick);
      if (got == SpareGoSignal() && info.si_code == SI_QUEUE && info.si_pid == test_process_) {
        return;
      }
      if (getppid() != test_process_ || HasExited(template_exit.get())) _exit(1);
    }
  }

  // Whether the process behind `pidfd` has exited (false for -1).
  static bool HasExited(int pidfd) {
    struct pollfd event = {pidfd, POLLIN, 0};
    return pidfd >= 0 && poll(&event, 1, 0) > 0;
  }

  // True in the clone. In the template: reports the clone (or the error).
  bool MakeClone() {
    ForgetExitedClones();
    std::fflush(nullptr);  // or the clone would write the template's buffers again
    pid_t pid = CloneIntoParent();
    if (pid == 0) {
      // Its own process group, as every server has: stopping it stops what
      // it started, and nothing of the template.
      setpgid(0, 0);
      RestoreSignalActions();
      close(control_fd_);
      for (int fd : clone_pidfds_) close(fd);
      return true;
    }
    if (pid < 0) {
      SendMessage(control_fd_, {TemplateMessage::Kind::kError, errno, {}});
      return false;
    }
    clone_pids_.push_back(pid);
    clone_pidfds_.push_back(OpenPidfd(pid).release());  // -1 without pidfds
    SendMessage(control_fd_, {TemplateMessage::Kind::kPid, pid, {}});
    return false;
  }

  void ForgetExitedClones() {
    for (size_t i = 0; i < clone_pids_.size();) {
      if (!HasExited(clone_pidfds_[i])) {
        ++i;
        continue;
      }
      close(clone_pidfds_[i]);
      clone_pidfds_.erase(clone_pidfds_.begin() + static_cast<long>(i));
      clone_pids_.erase(clone_pids_.begin() + static_cast<long>(i));
    }
  }

  [[noreturn]] void Exit() {
    ForgetExitedClones();
    for (pid_t pid : clone_pids_) kill(-pid, SIGKILL);
    for (int fd : clone_pidfds_) {
#if defined(SYS_pidfd_send_signal)
      if (fd >= 0) syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0);
#endif
    }
    std::fflush(nullptr);
    _exit(0);
  }

  static constexpr size_t kStopSignals = 3;
  static constexpr int kStopSignal[kStopSignals] = {SIGTERM, SIGINT, SIGHUP};

  // The first test's clone and its spare come before it: a test process
  // that runs one test (a process per test) orders no more, and pays no
  // collapse it cannot use. The third order comes when a second test starts.
  static constexpr int kOrdersBeforeHugePages = 3;

  int control_fd_;
  WarmMemoryOnHugePages huge_pages_;
  int orders_served_ = 0;
  pid_t test_process_ = -1;  // the parent of the template and of every clone
  pid_t template_pid_ = -1;
  sigset_t saved_mask_;
  struct sigaction saved_actions_[kStopSignals];
  std::vector<pid_t> clone_pids_;
  std::vector<int> clone_pidfds_;
};

}  // namespace

bool BecomeTemplate(int control_fd, std::string* data_dir) {
  const size_t threads = CountThreads();
  // The test process may have stopped listening (it gave up waiting for the
  // checkpoint): EPIPE then, never SIGPIPE.
  SigpipeBlocker no_sigpipe;
  if (threads > 1) {
    SendMessage(control_fd, {TemplateMessage::Kind::kThreads, static_cast<long>(threads), {}});
    std::fflush(nullptr);
    _exit(1);
  }
  if (SendMessage(control_fd, {TemplateMessage::Kind::kCheckpoint, 0, {}})) {
    close(control_fd);
    return false;
  }
  Template server_template(control_fd);
  *data_dir = server_template.Run();
  return true;
}

int TakeTemplateChannel(bool announce_linked) noexcept {
  const char* text = getenv(kTemplateFdVariable);
  if (!text) return -1;
  char* end = nullptr;
  const long fd = std::strtol(text, &end, 10);
  unsetenv(kTemplateFdVariable);
  struct stat info;
  if (end == text || *end != '\0' || fd < 3 || fd > 1 << 20 ||
      fstat(static_cast<int>(fd), &info) != 0 || !S_ISSOCK(info.st_mode)) {
    return -1;
  }
  fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
  if (announce_linked) {
    SigpipeBlocker no_sigpipe;  // a test process that gave up is no failure
    SendMessage(static_cast<int>(fd), {TemplateMessage::Kind::kLinked, 0, {}});
  }
  return static_cast<int>(fd);
}

size_t CountThreads() noexcept {
  DIR* dir = opendir("/proc/self/task");
  if (!dir) return 0;
  size_t count = 0;
  while (struct dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count;
}

}  // namespace gtest_fork_env::detail
