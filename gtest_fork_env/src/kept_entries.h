#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <system_error>

#include "unique_fd.h"

// Entries that runs of test binaries make side by side, and keep when their
// tests fail or they are killed: the bases of data directories in TempDir()
// (data_dirs.h) and the logs in LogDirectory() (log_file.h). One owner for
// making them and pruning them, so that no run removes what a live run uses.
//
// A run holds its entry with a shared flock on it, for as long as it or a
// forked copy (a server, a death test) keeps that descriptor. The race of
// issue 20 was the moment between making an entry and locking it, when a
// prune saw it idle. The protocol closes it for any interleaving:
// - MakeHeldEntry makes and locks the entry inside a creation window: a
//   shared flock on the guard, LogDirectory() itself (mode 0700, this
//   user's, so no one else can lock it).
// - PruneIdleEntries takes the guard exclusively, and never waits for it
//   (while a run is in its window it prunes nothing; the next start does).
//   Holding it, no entry is half made, so an entry is either in use or idle
//   for good; it removes an idle one only while it holds an exclusive flock
//   on it and the name still names what it locked (not removed and made
//   again meanwhile).
// - A run killed in its window loses both flocks with its descriptors: what
//   it made is idle, and goes with a later prune like any kept entry.

namespace gtest_fork_env::detail {

// Makes `dir` (mode 0700) unless it exists; either way it must be a real
// directory owned by this user, since it sits in a shared /tmp.
// Errors: mkdir/lstat's errno; EACCES when it is someone else's or not a
// directory.
std::error_code MakeOwnDirectory(const std::string& dir);

enum class EntryKind { kDirectory, kFile };

// Makes a fresh entry from `*path`, a pattern with "XXXXXX" (for a file,
// anything after it is kept as a suffix), and replaces `*path` with its name.
// `*held` gets a descriptor of it with a shared flock: a directory opened
// read-only, a file opened for appending (a server's stdout). Both
// close-on-exec. Waits while a prune holds the guard (it removes a few
// entries). When the guard cannot be had (LogDirectory() is not this
// user's), the entry is still made: no prune removes anything then.
// Errors: mkdtemp/mkostemps/open's errno.
std::error_code MakeHeldEntry(EntryKind kind, std::string* path, UniqueFd* held) noexcept;

// Removes the entries of `dir` whose names `matches` that no process holds,
// beyond the newest `keep` of them (by modification time). Entries in use
// are never removed and do not count. Best effort: what cannot be locked,
// read or removed is left to a later prune.
void PruneIdleEntries(const std::string& dir,
                      const std::function<bool(const std::string&)>& matches, size_t keep) noexcept;

// What to do about `error` from making a data directory or a log under
// `where` (a phrase such as "TMPDIR"), for a failure message: "point <where>
// at a writable place" only when that is the cause (no room, no quota, no
// permission, a read-only file system); for any other errno, what it means
// and what helps, or that it is not expected there.
std::string AdviceForFileError(const std::error_code& error, const std::string& where);

// A test-only seam: when $GTEST_FORK_ENV_TEST_STOP_AT equals `point`, this
// process stops itself (SIGSTOP) here, until a SIGCONT. A test widens a race
// window this way and runs the other side while the process is stopped
// (tests/kept_entries_test.cc). The one point: "entry-made", in
// MakeHeldEntry, after the entry exists and before it is locked.
void StopHereForTests(const char* point) noexcept;

}  // namespace gtest_fork_env::detail
