#include "async_safe.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace gtest_fork_env::detail {

namespace {

long DescriptorLimit() noexcept {
  long max_fd = sysconf(_SC_OPEN_MAX);
  if (max_fd < 0 || max_fd > 65536) max_fd = 65536;
  return max_fd;
}

}  // namespace

void CloseFrom(int first_fd) noexcept {
#if defined(__linux__) && defined(SYS_close_range)
  if (syscall(SYS_close_range, first_fd, ~0U, 0) == 0) return;
#endif
  const long limit = DescriptorLimit();
  for (int fd = first_fd; fd < limit; ++fd) close(fd);
}

void MarkCloexecFrom(int first_fd) noexcept {
#if defined(__linux__) && defined(SYS_close_range) && defined(CLOSE_RANGE_CLOEXEC)
  if (syscall(SYS_close_range, first_fd, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
#endif
  const long limit = DescriptorLimit();
  for (int fd = first_fd; fd < limit; ++fd) fcntl(fd, F_SETFD, FD_CLOEXEC);
}

void SetDisposition(int signal, void (*handler)(int)) noexcept {
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  sigaction(signal, &action, nullptr);
}

size_t FormatDecimal(pid_t value, char* out) noexcept {
  char digits[10];
  size_t count = 0;
  unsigned long rest = static_cast<unsigned long>(value);
  do {
    digits[count++] = static_cast<char>('0' + rest % 10);
    rest /= 10;
  } while (rest != 0 && count < sizeof digits);
  for (size_t i = 0; i < count; ++i) out[i] = digits[count - 1 - i];
  return count;
}

}  // namespace gtest_fork_env::detail
