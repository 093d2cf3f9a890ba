#include "unique_fd.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace gtest_fork_env::detail {

void UniqueFd::reset(int fd) noexcept {
  // close() is not retried on EINTR: on Linux the descriptor is released
  // either way, and a retry could close a descriptor another thread reused.
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

std::error_code MakePipe(UniqueFd& read_end, UniqueFd& write_end) noexcept {
  int fds[2];
#if defined(__linux__)
  if (::pipe2(fds, O_CLOEXEC) != 0) return LastError();
#else
  // No pipe2 (macOS): a concurrent fork+exec in another thread could
  // inherit these two descriptors in the window before FD_CLOEXEC is set.
  if (::pipe(fds) != 0) return LastError();
  ::fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  ::fcntl(fds[1], F_SETFD, FD_CLOEXEC);
#endif
  read_end.reset(fds[0]);
  write_end.reset(fds[1]);
  return {};
}

std::error_code WriteAll(int fd, const void* data, size_t size) noexcept {
  const char* bytes = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t written = RetryOnEintr([&] { return ::write(fd, bytes, size); });
    if (written < 0) return LastError();
    bytes += written;
    size -= static_cast<size_t>(written);
  }
  return {};
}

namespace {

sigset_t SigpipeOnly() noexcept {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  return set;
}

bool SigpipePending() noexcept {
  sigset_t pending;
  sigpending(&pending);
  return sigismember(&pending, SIGPIPE) == 1;
}

}  // namespace

SigpipeBlocker::SigpipeBlocker() noexcept : was_pending_(SigpipePending()) {
  const sigset_t pipe_only = SigpipeOnly();
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old_mask_);
}

SigpipeBlocker::~SigpipeBlocker() {
  if (!was_pending_ && SigpipePending()) {
    const sigset_t pipe_only = SigpipeOnly();
    struct timespec now = {0, 0};
    RetryOnEintr([&] { return sigtimedwait(&pipe_only, nullptr, &now); });
  }
  pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

UniqueFd OpenPidfd(pid_t pid) noexcept {
#if defined(__linux__) && defined(SYS_pidfd_open)
  // pidfd_open(2) sets close-on-exec itself.
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd >= 0) return UniqueFd(fd);
#endif
  (void)pid;
  return UniqueFd();
}

}  // namespace gtest_fork_env::detail
