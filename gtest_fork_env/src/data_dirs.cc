#include "data_dirs.h"

#include <stdlib.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "test_runner.h"
#include "unique_fd.h"

namespace gtest_fork_env::detail {
namespace fs = std::filesystem;

std::error_code DataDirs::NewUnit(const std::string& server_name, bool copy_first,
                                  std::string* path) {
  try {
    if (base_.empty()) {
      std::string name = server_name.substr(0, 64);
      for (char& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') c = '_';
      }
      // $TEST_TMPDIR under Bazel, else $TMPDIR or /tmp (test_runner.h).
      std::string pattern = TempDir() + "/gtest_fork_env-" + name + "-data-XXXXXX";
      std::vector<char> buffer(pattern.begin(), pattern.end());
      buffer.push_back('\0');
      if (!mkdtemp(buffer.data())) return LastError();
      base_ = buffer.data();
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
  base_.clear();
  first_.clear();
  next_ = 0;
}

}  // namespace gtest_fork_env::detail
