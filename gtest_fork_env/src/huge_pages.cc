#include "huge_pages.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25  // Linux 6.1; older headers lack it
#endif

namespace gtest_fork_env::detail {
namespace {

constexpr size_t kSmallPage = 4096;

// The whole of a small file of /proc or /sys ("" when it cannot be read).
std::string ReadSmallFile(const char* path) {
  std::string text;
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return text;
  char buffer[8192];
  ssize_t got;
  while ((got = read(fd, buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<size_t>(got));
  close(fd);
  return text;
}

// A line of /proc/self/maps that is writable private anonymous memory:
// "start-end rw-p offset dev 0" and then no path, "[heap]" or "[anon:name]".
// Stacks, [vvar], [vdso] and every file mapping are left alone.
bool IsWarmAnonymous(const std::string& line, uintptr_t* start, uintptr_t* end) {
  char perms[5] = {};
  unsigned long long from = 0, to = 0, inode = 1;
  int path_at = 0;
  if (std::sscanf(line.c_str(), "%llx-%llx %4s %*s %*s %llu %n", &from, &to, perms, &inode,
                  &path_at) < 4) {
    return false;
  }
  const char* path = line.c_str() + path_at;
  const bool anonymous = *path == '\0' || std::strcmp(path, "[heap]") == 0 ||
                         std::strncmp(path, "[anon:", 6) == 0;
  if (inode != 0 || !anonymous || std::strcmp(perms, "rw-p") != 0) return false;
  *start = static_cast<uintptr_t>(from);
  *end = static_cast<uintptr_t>(to);
  return true;
}

// Whether at least 3/4 of the small pages of [start, start + size) are in
// memory.
bool IsDense(uintptr_t start, size_t size) {
  unsigned char resident[1024];
  const size_t pages = size / kSmallPage;
  if (pages > sizeof resident) return false;
  if (mincore(reinterpret_cast<void*>(start), size, resident) != 0) return false;
  size_t in_memory = 0;
  for (size_t i = 0; i < pages; ++i) in_memory += resident[i] & 1;
  return in_memory * 4 >= pages * 3;
}

}  // namespace

WarmMemoryOnHugePages::WarmMemoryOnHugePages() noexcept {
  const char* wanted = std::getenv(kHugePagesVariable);
  const bool turned_off = wanted && std::strcmp(wanted, "0") == 0;
  const bool advise_only = wanted && std::strcmp(wanted, "madvise") == 0;
  unsetenv(kHugePagesVariable);
  const std::string mode = ReadSmallFile("/sys/kernel/mm/transparent_hugepage/enabled");
  enabled_ = !turned_off && !mode.empty() && mode.find("[never]") == std::string::npos &&
             prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) != 1;
  // madvise checks the advice before the range: an empty range tells
  // whether this kernel knows MADV_COLLAPSE, and changes nothing.
  static char probe_page[kSmallPage] __attribute__((aligned(kSmallPage)));
  can_collapse_ = !advise_only && madvise(probe_page, 0, MADV_COLLAPSE) == 0;
  const long size = std::atol(ReadSmallFile("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size")
                                  .c_str());
  if (size > 0 && static_cast<size_t>(size) % kSmallPage == 0) {
    huge_page_ = static_cast<size_t>(size);
  }
}

void WarmMemoryOnHugePages::Plan() noexcept {
  ranges_.clear();
  next_ = 0;
  if (!enabled_) return;
  const std::string maps = ReadSmallFile("/proc/self/maps");
  size_t at = 0;
  while (at < maps.size()) {
    size_t line_end = maps.find('\n', at);
    if (line_end == std::string::npos) line_end = maps.size();
    uintptr_t start = 0, end = 0;
    if (IsWarmAnonymous(maps.substr(at, line_end - at), &start, &end)) {
      const uintptr_t mask = ~static_cast<uintptr_t>(huge_page_ - 1);
      for (uintptr_t page = (start + huge_page_ - 1) & mask; page + huge_page_ <= end;
           page += huge_page_) {
        if (IsDense(page, huge_page_)) ranges_.push_back(page);
      }
    }
    at = line_end + 1;
  }
  if (planned_bytes() < kMinBytes) ranges_.clear();
}

int WarmMemoryOnHugePages::Step() noexcept {
  if (!HasWork()) return 0;
  const int saved_errno = errno;
  int pause_ms = 0;
  if (!can_collapse_) {
    for (; next_ < ranges_.size(); ++next_) {
      madvise(reinterpret_cast<void*>(ranges_[next_]), huge_page_, MADV_HUGEPAGE);
    }
  } else if (madvise(reinterpret_cast<void*>(ranges_[next_]), huge_page_, MADV_COLLAPSE) == 0 ||
             errno != EAGAIN || ++tries_ == kTries) {
    ++next_;  // done, or refused for good: left as it is
    tries_ = 0;
  } else {
    pause_ms = kPauseMs;
  }
  errno = saved_errno;
  return pause_ms;
}

}  // namespace gtest_fork_env::detail
