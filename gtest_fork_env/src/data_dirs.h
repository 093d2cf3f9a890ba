#pragma once

#include <string>
#include <system_error>

#include "unique_fd.h"

// The directories behind ServerContext::data_dir(). fork() copies memory,
// not files, so each test (or suite) gets a directory of its own: one base
// directory per server and test binary, one numbered directory in it per
// unit of the scope (under Scope::kBinary the base itself is the one
// directory: one directory less to make and remove, and removing one is the
// dearest file-system step of a start and stop on ext4). A run whose tests
// failed keeps its directories; the newest few per server name are kept,
// older ones go when a run starts (PruneOtherRuns). A base in use (held by a
// live run from the moment it exists) never goes: kept_entries.h.

namespace gtest_fork_env::detail {

class DataDirs {
 public:
  DataDirs() = default;
  DataDirs(const DataDirs&) = delete;
  DataDirs& operator=(const DataDirs&) = delete;
  // Removes nothing: a forked copy of the test process (a fast death test)
  // may destroy it on exit() while the directories are in use.
  ~DataDirs() = default;

  // A fresh directory for the next unit, in `path`. The first one is the
  // directory the server starts with (a template writes its files there
  // before Checkpoint()); with `copy_first`, a later one starts as a copy of
  // it, so each clone begins with the files it had at the checkpoint.
  // Errors: making the base directory ($TMPDIR, /tmp) or the copy.
  std::error_code NewUnit(const std::string& server_name, bool copy_first, std::string* path);
  // The base itself, as the server's only directory (Scope::kBinary: one
  // unit for the whole run). Use either this or NewUnit, not both.
  std::error_code OnlyUnit(const std::string& server_name, std::string* path);
  // Removes the idle bases of other runs of this server name beyond the
  // newest few (kept_entries.h): never one in use. Apart from making a
  // unit, so that it can run while the server starts.
  static void PruneOtherRuns(const std::string& server_name) noexcept;
  // Removes a unit's directory and what is in it (never the first one).
  void RemoveUnit(const std::string& path) noexcept;
  // Removes the base directory and everything in it.
  void RemoveAll() noexcept;

 private:
  std::error_code MakeBase(const std::string& server_name);
  static std::string BasePrefix(const std::string& server_name);

  std::string base_;
  UniqueFd base_lock_;  // a shared flock on base_: this run uses it
  std::string first_;
  int next_ = 0;
};

}  // namespace gtest_fork_env::detail
