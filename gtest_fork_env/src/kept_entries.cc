#include "kept_entries.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include "log_file.h"

namespace gtest_fork_env::detail {

std::error_code MakeOwnDirectory(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return LastError();
  struct stat info;
  if (lstat(dir.c_str(), &info) != 0) return LastError();
  if (!S_ISDIR(info.st_mode) || info.st_uid != geteuid()) {
    return std::make_error_code(std::errc::permission_denied);
  }
  return {};
}

namespace {

// The guard of the protocol (kept_entries.h), locked `how`; an empty
// descriptor when it cannot be had (or, with LOCK_NB, is busy).
UniqueFd LockGuard(int how) {
  const std::string dir = LogDirectory();
  if (MakeOwnDirectory(dir)) return {};
  UniqueFd guard(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!guard || RetryOnEintr([&] { return flock(guard.get(), how); }) != 0) return {};
  return guard;
}

// The entry at `path` with an exclusive flock, when no process holds it and
// `path` still names the very entry locked; else an empty descriptor.
UniqueFd LockIdle(const std::string& path, struct stat* info) {
  // O_NONBLOCK: a FIFO that someone left under a matching name in a shared
  // /tmp must not hang the prune.
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat named;
  if (!fd || flock(fd.get(), LOCK_EX | LOCK_NB) != 0 || fstat(fd.get(), info) != 0 ||
      lstat(path.c_str(), &named) != 0 || named.st_dev != info->st_dev ||
      named.st_ino != info->st_ino) {
    return {};
  }
  return fd;
}

std::vector<std::string> NamesIn(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* listing = opendir(dir.c_str())) {
    while (struct dirent* entry = readdir(listing)) names.emplace_back(entry->d_name);
    closedir(listing);
  }
  return names;
}

}  // namespace

std::error_code MakeHeldEntry(EntryKind kind, std::string* path, UniqueFd* held) noexcept {
  try {
    std::vector<char> buffer(path->begin(), path->end());
    buffer.push_back('\0');
    const UniqueFd window = LockGuard(LOCK_SH);  // released on return
    UniqueFd fd;
    if (kind == EntryKind::kDirectory) {
      if (!mkdtemp(buffer.data())) return LastError();
      StopHereForTests("entry-made");
      fd = UniqueFd(open(buffer.data(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    } else {
      const size_t end = path->rfind("XXXXXX") + 6;
      fd = UniqueFd(
          mkostemps(buffer.data(), static_cast<int>(path->size() - end), O_APPEND | O_CLOEXEC));
      if (fd) StopHereForTests("entry-made");
    }
    if (!fd || RetryOnEintr([&] { return flock(fd.get(), LOCK_SH); }) != 0) {
      const std::error_code error = LastError();
      if (kind == EntryKind::kDirectory) rmdir(buffer.data());
      if (kind == EntryKind::kFile && fd) unlink(buffer.data());
      return error;
    }
    *path = buffer.data();
    *held = std::move(fd);
    return {};
  } catch (const std::bad_alloc&) {
    return std::make_error_code(std::errc::not_enough_memory);
  }
}

void PruneIdleEntries(const std::string& dir,
                      const std::function<bool(const std::string&)>& matches,
                      size_t keep) noexcept {
  try {
    const UniqueFd guard = LockGuard(LOCK_EX | LOCK_NB);
    if (!guard) return;  // a run is making its entry: a later start prunes
    std::vector<std::pair<struct timespec, std::string>> idle;
    for (const std::string& name : NamesIn(dir)) {
      if (name == "." || name == ".." || !matches(name)) continue;
      struct stat info;
      if (LockIdle(dir + "/" + name, &info)) idle.emplace_back(info.st_mtim, dir + "/" + name);
    }
    if (idle.size() <= keep) return;
    std::sort(idle.begin(), idle.end(), [](const auto& a, const auto& b) {
      return a.first.tv_sec != b.first.tv_sec ? a.first.tv_sec > b.first.tv_sec
                                              : a.first.tv_nsec > b.first.tv_nsec;
    });
    for (size_t i = keep; i < idle.size(); ++i) {
      struct stat info;
      const UniqueFd held = LockIdle(idle[i].second, &info);  // held while it goes
      if (!held) continue;
      std::error_code ignored;
      if (S_ISDIR(info.st_mode)) {
        std::filesystem::remove_all(idle[i].second, ignored);
      } else {
        unlink(idle[i].second.c_str());
      }
    }
  } catch (...) {
    // Best effort (bad_alloc): the next prune tries again.
  }
}

std::string AdviceForFileError(const std::error_code& error, const std::string& where) {
  switch (error.value()) {
    case ENOSPC:
    case EDQUOT:
      return "point " + where + " at a writable place with room (its file system is full).";
    case EACCES:
    case EPERM:
    case EROFS:
      return "point " + where + " at a writable place (this user may not write there).";
    case ENOENT:
    case ENOTDIR:
      return "check that " + where +
             " leads to a directory that exists. If it does, something "
             "removed the server's directory while it was made: please report it with this "
             "message.";
    case ENAMETOOLONG:
      return "point " + where + " at a shorter path.";
    case EMFILE:
    case ENFILE:
      return "the test process ran out of file descriptors: raise the limit (ulimit -n) or "
             "close the descriptors the tests leave open.";
    case ENOMEM:
      return "the machine is out of memory: free some, or run fewer tests at once.";
    default:
      return "this error is not one a full or unwritable " + where +
             " gives: please report it with this message.";
  }
}

void StopHereForTests(const char* point) noexcept {
  const char* wanted = std::getenv("GTEST_FORK_ENV_TEST_STOP_AT");
  if (wanted && std::strcmp(wanted, point) == 0) raise(SIGSTOP);
}

}  // namespace gtest_fork_env::detail
