#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cerrno>
#include <system_error>
#include <utility>

namespace gtest_fork_env::detail {

// Owns one file descriptor and closes it when destroyed. Move-only.
class UniqueFd {
 public:
  UniqueFd() noexcept = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

// errno as a std::error_code in the system category.
inline std::error_code LastError() noexcept {
  return {errno, std::system_category()};
}

// Calls `call` again while it fails with EINTR. This is the one place the
// library retries interrupted system calls (like gtest's
// GTEST_DEATH_TEST_CHECK_SYSCALL_ and fmt's FMT_RETRY): no call site checks
// EINTR by hand. It allocates nothing and is async-signal-safe, so a forked
// child and the watchdog (watchdog.cc) use it too.
template <typename Call>
auto RetryOnEintr(Call call) noexcept -> decltype(call()) {
  decltype(call()) result;
  do {
    result = call();
  } while (result == -1 && errno == EINTR);
  return result;
}

// Creates a pipe whose both ends are close-on-exec, so that no program the
// library or the test later executes inherits it by accident.
std::error_code MakePipe(UniqueFd& read_end, UniqueFd& write_end) noexcept;

// Writes all of `size` bytes, retrying short writes and EINTR.
std::error_code WriteAll(int fd, const void* data, size_t size) noexcept;

// While it lives, a write to a pipe or socket whose reader is gone fails with
// EPIPE instead of killing the process with SIGPIPE. write() has no
// MSG_NOSIGNAL, and the library must not change a process-wide disposition
// the user's code may rely on; so it blocks SIGPIPE in this thread (SIGPIPE
// is sent to the thread that wrote), then consumes one that arrived
// meanwhile and restores the mask, as curl's sigpipe_ignore does. Used by the
// probe's TLS writes (OpenSSL writes with write()) and by a server's port
// report, which the test process may have stopped reading.
class SigpipeBlocker {
 public:
  SigpipeBlocker() noexcept;
  ~SigpipeBlocker();
  SigpipeBlocker(const SigpipeBlocker&) = delete;
  SigpipeBlocker& operator=(const SigpipeBlocker&) = delete;

 private:
  sigset_t old_mask_;
  bool was_pending_ = false;
};

// A pidfd for `pid` (close-on-exec), or an empty UniqueFd where the kernel
// has none. Here, in the server library, because both sides need it: the
// test process waits on its servers, a template (checkpoint.cc) on its
// clones. A raw syscall: glibc 2.36's <sys/pidfd.h> does not link from C++.
UniqueFd OpenPidfd(pid_t pid) noexcept;

}  // namespace gtest_fork_env::detail
