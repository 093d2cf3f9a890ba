#include "data_dirs.h"

#include <filesystem>

#include "kept_entries.h"
#include "log_file.h"
#include "test_runner.h"
#include "unique_fd.h"

namespace gtest_fork_env::detail {
namespace fs = std::filesystem;

namespace {

// How many data directories of failed runs to keep per server name.
constexpr size_t kKeptPerName = 4;

}  // namespace

std::error_code DataDirs::MakeBase(const std::string& server_name) {
  if (!base_.empty()) return {};
  // $TEST_TMPDIR under Bazel, else $TMPDIR or /tmp (test_runner.h). Held
  // (shared) until the process ends, so that no prune (ours or another
  // run's) removes it: kept_entries.h. Close-on-exec, and a forked copy
  // shares it.
  std::string base = TempDir() + "/" + BasePrefix(server_name) + "XXXXXX";
  if (auto error = MakeHeldEntry(EntryKind::kDirectory, &base, &base_lock_)) return error;
  base_ = base;
  return {};
}

std::string DataDirs::BasePrefix(const std::string& server_name) {
  return "gtest_fork_env-" + SafeFileName(server_name) + "-data-";
}

std::error_code DataDirs::NewUnit(const std::string& server_name, bool copy_first,
                                  std::string* path) {
  try {
    if (auto error = MakeBase(server_name)) return error;
    const std::string unit = base_ + "/" + std::to_string(next_++);
    std::error_code error;
    if (copy_first && !first_.empty()) {
      fs::copy(first_, unit, fs::copy_options::recursive | fs::copy_options::copy_symlinks,
               error);
    } else {
      fs::create_directory(unit, error);
    }
    if (error) return error;
    if (first_.empty()) first_ = unit;
    *path = unit;
    return {};
  } catch (const std::bad_alloc&) {
    return std::make_error_code(std::errc::not_enough_memory);
  }
}

std::error_code DataDirs::OnlyUnit(const std::string& server_name, std::string* path) {
  try {
    if (auto error = MakeBase(server_name)) return error;
    first_ = base_;
    *path = base_;
    return {};
  } catch (const std::bad_alloc&) {
    return std::make_error_code(std::errc::not_enough_memory);
  }
}

void DataDirs::PruneOtherRuns(const std::string& server_name) noexcept {
  try {
    const std::string prefix = BasePrefix(server_name);
    PruneIdleEntries(
        TempDir(), [&](const std::string& name) { return name.rfind(prefix, 0) == 0; },
        kKeptPerName);
  } catch (const std::bad_alloc&) {
    // Best effort: the next run prunes.
  }
}

void DataDirs::RemoveUnit(const std::string& path) noexcept {
  if (path.empty() || path == first_) return;
  std::error_code ignored;
  fs::remove_all(path, ignored);
}

void DataDirs::RemoveAll() noexcept {
  if (base_.empty()) return;
  std::error_code ignored;
  fs::remove_all(base_, ignored);
  base_lock_.reset();
  base_.clear();
  first_.clear();
  next_ = 0;
}

}  // namespace gtest_fork_env::detail
