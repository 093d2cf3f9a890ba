#include "huge_pages.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
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

// A mapping mostly reserved, not used, is not scanned: what a sanitizer
// reserves for its shadow (terabytes, of which a few MiB are in memory)
// would take minutes of mincore calls and has nothing to gain.
constexpr size_t kMaxSizeToResident = 64;

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

// /proc/self/smaps: each mapping's line, then its fields, "Rss:" among them.
void WarmMemoryOnHugePages::Plan() noexcept {
  ranges_.clear();
  next_ = 0;
  if (!enabled_) return;
  const std::string smaps = ReadSmallFile("/proc/self/smaps");
  uintptr_t start = 0, end = 0;
  bool warm = false;
  size_t at = 0;
  while (at < smaps.size()) {
    size_t line_end = smaps.find('\n', at);
    if (line_end == std::string::npos) line_end = smaps.size();
    const std::string line = smaps.substr(at, line_end - at);
    at = line_end + 1;
    if (line.compare(0, 4, "Rss:") == 0) {
      const size_t resident = static_cast<size_t>(std::atoll(line.c_str() + 4)) * 1024;
      if (warm && resident >= huge_page_ && (end - start) / kMaxSizeToResident <= resident) {
        AddDenseRanges(start, end);
      }
      warm = false;
    } else if (line.find('-') < line.find(' ')) {  // "start-end perms ...": a new mapping
      warm = IsWarmAnonymous(line, &start, &end);
    }
  }
  if (planned_bytes() < kMinBytes) ranges_.clear();
}

// The huge-page-aligned ranges of [start, end) whose small pages are at
// least 3/4 in memory, asked of mincore a chunk of ranges at a time.
void WarmMemoryOnHugePages::AddDenseRanges(uintptr_t start, uintptr_t end) noexcept {
  static unsigned char resident[16384];  // one bit a small page; the template has one thread
  const size_t pages_per_range = huge_page_ / kSmallPage;
  const size_t ranges_per_call = sizeof resident / pages_per_range;
  if (ranges_per_call == 0) return;
  const uintptr_t mask = ~static_cast<uintptr_t>(huge_page_ - 1);
  uintptr_t range = (start + huge_page_ - 1) & mask;
  while (range + huge_page_ <= end) {
    const size_t count = std::min<size_t>(ranges_per_call, (end - range) / huge_page_);
    if (mincore(reinterpret_cast<void*>(range), count * huge_page_, resident) != 0) return;
    for (size_t r = 0; r < count; ++r) {
      size_t in_memory = 0;
      for (size_t i = 0; i < pages_per_range; ++i) in_memory += resident[r * pages_per_range + i] & 1;
      if (in_memory * 4 >= pages_per_range * 3) ranges_.push_back(range + r * huge_page_);
    }
    range += count * huge_page_;
  }
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
