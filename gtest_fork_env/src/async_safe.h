#pragma once

#include <sys/types.h>

#include <cstddef>

// Small async-signal-safe steps shared by a forked server child (process.cc)
// and the watchdog (watchdog.cc): both may run after a fork of a process that
// has threads, so they allocate nothing and call only syscalls.

namespace gtest_fork_env::detail {

// Closes every descriptor from `first_fd` up.
void CloseFrom(int first_fd) noexcept;

// Marks every descriptor from `first_fd` up close-on-exec.
void MarkCloexecFrom(int first_fd) noexcept;

// Sets the disposition of `signal` to `handler` (SIG_DFL, SIG_IGN...).
void SetDisposition(int signal, void (*handler)(int)) noexcept;

// Writes `value` in decimal at `out` (room for 10 digits) and returns the
// number of digits written.
size_t FormatDecimal(pid_t value, char* out) noexcept;

}  // namespace gtest_fork_env::detail
