#pragma once

#include <string>
#include <system_error>
#include <vector>

#include "unique_fd.h"

namespace gtest_fork_env::detail {

// The file a server's stdout and stderr go to. Opened O_APPEND, so that the
// server, its children and a restarted server never overwrite each other.
struct LogFile {
  UniqueFd fd;
  std::string path;
  bool temporary = false;  // made by the library; removed after a clean run
};

// How many logs the library made are kept per server name in
// LogDirectory(): those of failed runs (a clean run removes its own), and of
// runs that were killed before they could clean up.
constexpr size_t kKeptLogsPerServer = 5;

// `name` (a server's name) as a piece of a file or directory name: ASCII
// letters, digits, '-', '_' and '.' stay, every other byte becomes '_', cut
// to 64 characters; "server" when `name` is empty. The one format for the
// library's log files and data directories, so both name a server alike.
std::string SafeFileName(const std::string& name);

// Where the logs the library makes go: <TempDir()>/gtest_fork_env-logs-<uid>
// (TempDir() is $TEST_TMPDIR, $TMPDIR or /tmp). A fixed place, so that the
// log of a test binary that was SIGKILLed, and never printed its path, can
// still be found: the newest file there named after the server.
std::string LogDirectory();

// Opens `path` for appending (truncating it first), or, when `path` is
// empty, creates a fresh file "<server_name>-<pid>-XXXXXX.log" in
// LogDirectory() (made mode 0700 if missing). A log is in use while a
// process holds it open (a shared flock, which the server's stdout shares),
// from the moment it exists: logs in use are never removed, so parallel runs
// of one binary cannot delete each other's logs, not even one that is just
// being made (kept_entries.h).
// Errors: open/mkstemp failures, with errno; EACCES when the log directory
// exists but is not a directory of this user's (someone else's, a symlink).
std::error_code OpenLogFile(const std::string& path, const std::string& server_name,
                            LogFile& log) noexcept;

// Removes the idle logs of `server_name` in LogDirectory() beyond the newest
// kKeptLogsPerServer: never one in use. Apart from OpenLogFile, so that it
// can run while the server starts.
void PruneOtherLogs(const std::string& server_name) noexcept;

// The last `max_lines` lines of the file at `path`, each prefixed with
// "  | ", long lines cut; "" when it is empty or unreadable. Reads at most the
// last 64 KiB, so a server that flooded its log costs nothing here.
std::string TailOfFile(const std::string& path, size_t max_lines);

// The last `max_lines` lines of `text`, each prefixed with "  | " and cut
// after `max_line_length` characters: how failure messages quote a log.
std::string QuoteLines(const std::string& text, size_t max_lines, size_t max_line_length);

// The pieces of `text` between `separator`s ('\n' for lines, '\0' for
// /proc/self/cmdline); a separator at the very end adds no empty piece.
std::vector<std::string> Split(const std::string& text, char separator);

// Bytes in the file at `path` now (0 when missing).
long long FileSize(const std::string& path) noexcept;

// What was appended to the file at `path` since byte `offset`, capped at
// `max_bytes` (the newest part is kept, after a "[...]" line). With
// `end_offset`, also where the read ended: the offset to read on from.
std::string ReadFrom(const std::string& path, long long offset, size_t max_bytes,
                     long long* end_offset = nullptr);

}  // namespace gtest_fork_env::detail
