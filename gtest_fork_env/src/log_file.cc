#include "log_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <utility>
#include <vector>

#include "kept_entries.h"
#include "test_runner.h"

namespace gtest_fork_env::detail {

std::string SafeFileName(const std::string& name) {
  std::string safe;
  for (char c : name) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    safe += plain ? c : '_';
  }
  return safe.empty() ? "server" : safe.substr(0, 64);
}

namespace {

// Whether `file` is "<safe_name>-<pid>-XXXXXX.log", a log OpenLogFile made
// for this server name (and not for "<safe_name>-v2", say).
bool IsLogOf(const std::string& file, const std::string& safe_name) {
  const std::string prefix = safe_name + "-";
  const std::string suffix = ".log";
  if (file.size() < prefix.size() + suffix.size() + 9 || file.compare(0, prefix.size(), prefix) ||
      file.compare(file.size() - suffix.size(), suffix.size(), suffix)) {
    return false;
  }
  const std::string middle =
      file.substr(prefix.size(), file.size() - prefix.size() - suffix.size());
  const size_t dash = middle.find('-');
  return dash != std::string::npos && dash > 0 && middle.size() - dash - 1 == 6 &&
         std::all_of(middle.begin(), middle.begin() + static_cast<long>(dash),
                     [](char c) { return c >= '0' && c <= '9'; });
}

std::string ReadRange(const std::string& path, long long offset, size_t max_bytes,
                      long long* end_offset = nullptr) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return {};
  struct stat info;
  if (fstat(fd.get(), &info) != 0) return {};
  long long size = info.st_size;
  if (offset > size) offset = size;
  long long start = offset;
  if (size - start > static_cast<long long>(max_bytes)) {
    start = size - static_cast<long long>(max_bytes);
  }
  std::string data(static_cast<size_t>(size - start), '\0');
  size_t filled = 0;
  while (filled < data.size()) {
    ssize_t got = RetryOnEintr([&] {
      return pread(fd.get(), &data[filled], data.size() - filled,
                   static_cast<off_t>(start + static_cast<long long>(filled)));
    });
    if (got <= 0) break;
    filled += static_cast<size_t>(got);
  }
  data.resize(filled);
  if (end_offset) *end_offset = start + static_cast<long long>(filled);
  if (start > offset) data = "[...]\n" + data.substr(data.find('\n') + 1);
  return data;
}

}  // namespace

std::string LogDirectory() {
  return TempDir() + "/gtest_fork_env-logs-" + std::to_string(geteuid());
}

std::error_code OpenLogFile(const std::string& path, const std::string& server_name,
                            LogFile& log) noexcept {
  try {
    if (!path.empty()) {
      UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644));
      if (!fd) return LastError();
      log.fd = std::move(fd);
      log.path = path;
      log.temporary = false;
      return {};
    }
    const std::string dir = LogDirectory();
    if (auto error = MakeOwnDirectory(dir)) return error;
    const std::string safe_name = SafeFileName(server_name);
    std::string path_made = dir + "/" + safe_name + "-" + std::to_string(getpid()) + "-XXXXXX.log";
    // In use from here on, for as long as this process or the server holds
    // it open: no prune (ours or another run's) removes it, kept_entries.h.
    UniqueFd fd;
    if (auto error = MakeHeldEntry(EntryKind::kFile, &path_made, &fd)) return error;
    log.fd = std::move(fd);
    log.path = path_made;
    log.temporary = true;
    return {};
  } catch (const std::bad_alloc&) {
    return std::make_error_code(std::errc::not_enough_memory);
  }
}

void PruneOtherLogs(const std::string& server_name) noexcept {
  try {
    const std::string safe_name = SafeFileName(server_name);
    PruneIdleEntries(
        LogDirectory(), [&](const std::string& name) { return IsLogOf(name, safe_name); },
        kKeptLogsPerServer);
  } catch (const std::bad_alloc&) {
    // Best effort: the next run prunes.
  }
}

std::vector<std::string> Split(const std::string& text, char separator) {
  std::vector<std::string> pieces;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(separator, pos);
    if (end == std::string::npos) end = text.size();
    pieces.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return pieces;
}

std::string QuoteLines(const std::string& text, size_t max_lines, size_t max_line_length) {
  std::vector<std::string> lines = Split(text, '\n');
  size_t first = lines.size() > max_lines ? lines.size() - max_lines : 0;
  std::string quoted;
  for (size_t i = first; i < lines.size(); ++i) {
    std::string& line = lines[i];
    if (line.size() > max_line_length) line = line.substr(0, max_line_length) + " [...]";
    quoted += "  | " + line + "\n";
  }
  return quoted;
}

std::string TailOfFile(const std::string& path, size_t max_lines) {
  return QuoteLines(ReadRange(path, 0, 64 * 1024), max_lines, 300);
}

long long FileSize(const std::string& path) noexcept {
  struct stat info;
  return stat(path.c_str(), &info) == 0 ? static_cast<long long>(info.st_size) : 0;
}

std::string ReadFrom(const std::string& path, long long offset, size_t max_bytes,
                     long long* end_offset) {
  return ReadRange(path, offset, max_bytes, end_offset);
}

}  // namespace gtest_fork_env::detail
