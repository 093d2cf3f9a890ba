#include "data_dirs.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "kept_entries.h"
#include "log_file.h"
#include "test_runner.h"
#include "unique_fd.h"

namespace gtest_fork_env::detail {
namespace fs = std::filesystem;

namespace {

// How many data directories of failed runs to keep per server name.
constexpr size_t kKeptPerName = 4;

// Directories a run kept (its tests failed) or left (it was killed) would
// pile up: remove those of `prefix` beyond the newest kKeptPerName that no
// live run holds (a run holds a shared lock on its own base directory).
void PruneOldBases(const std::string& parent, const std::string& prefix) {
  std::vector<std::pair<fs::file_time_type, fs::path>> bases;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(parent, error)) {
    const std::string name = entry.path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0 || !entry.is_directory(error)) continue;
    bases.emplace_back(entry.last_write_time(error), entry.path());
  }
  if (bases.size() <= kKeptPerName) return;
  std::sort(bases.begin(), bases.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = kKeptPerName; i < bases.size(); ++i) {
    UniqueFd fd(open(bases[i].second.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd || flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;  // in use
    fs::remove_all(bases[i].second, error);
  }
}

}  // namespace

std::error_code DataDirs::NewUnit(const std::string& server_name, bool copy_first,
                                  std::string* path) {
  try {
    if (base_.empty()) {
      // $TEST_TMPDIR under Bazel, else $TMPDIR or /tmp (test_runner.h).
      const std::string prefix = "gtest_fork_env-" + SafeFileName(server_name) + "-data-";
      std::string pattern = TempDir() + "/" + prefix + "XXXXXX";
      std::vector<char> buffer(pattern.begin(), pattern.end());
      buffer.push_back('\0');
      if (!mkdtemp(buffer.data())) return LastError();
      base_ = buffer.data();
      StopHereForTests("data-dir-made");
      // Held (shared) until the process ends: PruneOldBases of another run
      // leaves this one alone. Close-on-exec, and a forked copy shares it.
      base_lock_ = UniqueFd(open(base_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (base_lock_) flock(base_lock_.get(), LOCK_SH);
      PruneOldBases(TempDir(), prefix);
    }
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
