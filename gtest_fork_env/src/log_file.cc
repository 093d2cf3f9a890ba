#include "log_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

namespace gtest_fork_env::detail {
namespace {

std::string SafeFileName(const std::string& name) {
  std::string safe;
  for (char c : name) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    safe += plain ? c : '_';
  }
  return safe.empty() ? "server" : safe.substr(0, 64);
}

std::string ReadRange(const std::string& path, long long offset, size_t max_bytes) {
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
  if (start > offset) data = "[...]\n" + data.substr(data.find('\n') + 1);
  return data;
}

}  // namespace

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
    const char* tmpdir = std::getenv("TMPDIR");
    std::string pattern = std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") +
                          "/gtest_fork_env-" + SafeFileName(server_name) + "-XXXXXX.log";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    UniqueFd fd(mkostemps(buffer.data(), 4, O_APPEND | O_CLOEXEC));
    if (!fd) return LastError();
    log.fd = std::move(fd);
    log.path = buffer.data();
    log.temporary = true;
    return {};
  } catch (const std::bad_alloc&) {
    return std::make_error_code(std::errc::not_enough_memory);
  }
}

std::string QuoteLines(const std::string& text, size_t max_lines, size_t max_line_length) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
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

std::string ReadFrom(const std::string& path, long long offset, size_t max_bytes) {
  return ReadRange(path, offset, max_bytes);
}

}  // namespace gtest_fork_env::detail
