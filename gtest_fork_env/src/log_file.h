#pragma once

#include <string>
#include <system_error>

#include "unique_fd.h"

namespace gtest_fork_env::detail {

// The file a server's stdout and stderr go to. Opened O_APPEND, so that the
// server, its children and a restarted server never overwrite each other.
struct LogFile {
  UniqueFd fd;
  std::string path;
  bool temporary = false;  // made by the library; removed after a clean run
};

// Opens `path` for appending (truncating it first), or, when `path` is
// empty, creates a fresh file in $TMPDIR (or /tmp) whose name holds
// `server_name`.
// Errors: open/mkstemp failures, with errno.
std::error_code OpenLogFile(const std::string& path, const std::string& server_name,
                            LogFile& log) noexcept;

// The last `max_lines` lines of the file at `path`, each prefixed with
// "  | ", long lines cut; "" when it is empty or unreadable. Reads at most the
// last 64 KiB, so a server that flooded its log costs nothing here.
std::string TailOfFile(const std::string& path, size_t max_lines);

// The last `max_lines` lines of `text`, each prefixed with "  | " and cut
// after `max_line_length` characters: how failure messages quote a log.
std::string QuoteLines(const std::string& text, size_t max_lines, size_t max_line_length);

// Bytes in the file at `path` now (0 when missing).
long long FileSize(const std::string& path) noexcept;

// What was appended to the file at `path` since byte `offset`, capped at
// `max_bytes` (the newest part is kept, after a "[...]" line).
std::string ReadFrom(const std::string& path, long long offset, size_t max_bytes);

}  // namespace gtest_fork_env::detail
