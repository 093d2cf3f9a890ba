#pragma once

// System calls that never touch errno: they return the kernel's result
// (-errno on failure). For the watchdog, which may run in the test
// process's memory without a TLS block of its own (watchdog.cc): glibc's
// wrappers, syscall() included, store errno through the thread pointer, and
// the watchdog's thread pointer is that of the test thread that started
// it. The instruction itself on x86-64 and AArch64; elsewhere syscall(),
// where the watchdog is a forked process with an errno of its own.

#include <unistd.h>

#include <cerrno>

#if defined(__x86_64__) || defined(__aarch64__)
#define GTEST_FORK_ENV_HAVE_RAW_SYSCALL 1
#endif

namespace gtest_fork_env::detail {

inline long RawSyscall(long number, long a = 0, long b = 0, long c = 0, long d = 0) noexcept {
#if defined(__x86_64__)
  long result;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall"
                   : "=a"(result)
                   : "a"(number), "D"(a), "S"(b), "d"(c), "r"(r10)
                   : "rcx", "r11", "memory");
  return result;
#elif defined(__aarch64__)
  register long x8 __asm__("x8") = number;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
  return x0;
#else
  const long result = syscall(number, a, b, c, d);
  return result == -1 ? -errno : result;
#endif
}

// RawSyscall again while it fails with EINTR.
template <typename... Args>
long RawSyscallRetrying(long number, Args... args) noexcept {
  long result;
  do {
    result = RawSyscall(number, static_cast<long>(args)...);
  } while (result == -EINTR);
  return result;
}

}  // namespace gtest_fork_env::detail
