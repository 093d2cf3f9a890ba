#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <system_error>

// The watchdog: one per test process, its child, in a process group of its
// own, that ends every server group still registered (and removes the
// directories it was told of) once the test process is gone, in whatever
// way, SIGKILL included. The process layer (process.h) registers each group
// it starts; nothing here knows what a server is.

namespace gtest_fork_env::detail {

// Starts this process's watchdog if it has none yet (a forked copy of a
// test process starts its own: the inherited one watches the original).
// Errors: the pipe or the fork/clone failed.
std::error_code EnsureWatchdog() noexcept;

// The write end of this process's watchdog command pipe (close-on-exec), or
// -1. A forked server child writes its own "+<pgid>" registration to it
// (FormatWatchdogCommand), then closes it.
int WatchdogCommandFd() noexcept;

// "<sign><pid>\n" into `buffer` (at least 16 bytes); returns its length.
// Async-signal-safe: a server child writes its own registration with it.
size_t FormatWatchdogCommand(char sign, pid_t pid, char* buffer) noexcept;

// Tells the watchdog to guard ('+') or forget ('-') the process group
// `pgid`. Does nothing where this process owns no watchdog.
void TellWatchdog(char sign, pid_t pgid) noexcept;

// Asks this process's watchdog (started now if there is none) to remove the
// directory `dir` (absolute) and the files in it once this process is gone,
// in whatever way, after it ended the server groups. For files that must not
// outlive a SIGKILLed test binary (the TLS keys). At most 8 directories.
// Errors: a relative or too long path (EINVAL), or the watchdog's start.
std::error_code WatchdogRemovesDirectory(const std::string& dir) noexcept;

}  // namespace gtest_fork_env::detail
