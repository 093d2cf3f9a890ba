#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

// The template's warm memory on transparent huge pages (Options::huge_pages).
//
// Why: fork() copies one page-table entry per page, and a clone's exit tears
// them down again. 64 MiB of warm state on 4 KiB pages is 16,384 entries
// per clone; on 2 MiB pages it is 32. A clone that writes to a huge page
// still copies only the 4 KiB it writes (the kernel splits the shared huge
// page's mapping in the writer, since Linux 5.8).
//
// Runs in the template (server side, no GoogleTest), between clone orders,
// one huge page at a time: the template answers an order that comes in
// between before it goes on. Nothing here allocates after Plan().

namespace gtest_fork_env::detail {

// The variable that sets it, in the server's environment: "0" turns it off
// (the library sets that when Options::huge_pages is false; a user may set
// it for every server of a run); "madvise" only marks the ranges
// MADV_HUGEPAGE, as on a kernel without MADV_COLLAPSE, and leaves the
// collapse to khugepaged; anything else, or nothing, collapses.
constexpr const char* kHugePagesVariable = "GTEST_FORK_ENV_HUGE_PAGES";

class WarmMemoryOnHugePages {
 public:
  // Dense warm memory below this is left alone: its fork costs little
  // (bench/clone_bench.cc measures the small template at about 1 MiB).
  static constexpr size_t kMinBytes = size_t{16} << 20;

  // Reads kHugePagesVariable (and takes it out of the environment) and the
  // kernel's setting: off when the variable is "0", when
  // /sys/kernel/mm/transparent_hugepage/enabled says [never] or is missing,
  // or when the process turned huge pages off (PR_SET_THP_DISABLE).
  WarmMemoryOnHugePages() noexcept;

  // Finds the work: each huge-page-aligned range of writable private
  // anonymous memory (the heap, anonymous mappings) whose small pages are
  // at least 3/4 resident (mincore), so that collapsing it adds at most a
  // third to what it uses. A mapping 64 times larger than what of it is in
  // memory (a sanitizer's shadow) is skipped. No work when the ranges add
  // up to less than kMinBytes.
  void Plan() noexcept;

  bool HasWork() const noexcept { return next_ < ranges_.size(); }

  // Collapses the next range (MADV_COLLAPSE, Linux 6.1 and later): the
  // kernel copies its small pages into one huge page. Returns how many
  // milliseconds to wait before the next step: 0, or kPauseMs after the
  // kernel said "try again" (EAGAIN: a page was busy, which was seen while
  // a clone wrote or a fork ran); a range busy kTries times, or refused
  // (no huge page free, MADV_NOHUGEPAGE), is left as it is. On a kernel
  // without MADV_COLLAPSE it marks every planned range MADV_HUGEPAGE
  // instead, so that khugepaged may collapse them later, and ends. Leaves
  // errno as it was.
  int Step() noexcept;

  size_t planned_bytes() const noexcept { return ranges_.size() * huge_page_; }

 private:
  void AddDenseRanges(uintptr_t start, uintptr_t end) noexcept;

  bool enabled_ = false;
  bool can_collapse_ = false;
  size_t huge_page_ = size_t{2} << 20;
  std::vector<uintptr_t> ranges_;  // start of each planned huge page
  size_t next_ = 0;
  int tries_ = 0;  // of ranges_[next_], each answered EAGAIN
  static constexpr int kTries = 50;
  static constexpr int kPauseMs = 10;
};

}  // namespace gtest_fork_env::detail
