#pragma once

#include <chrono>
#include <string>

// The contract between a test binary and the runner that started it, in one
// place: Bazel's test encyclopedia (TEST_TMPDIR, TEST_UNDECLARED_OUTPUTS_DIR,
// TEST_INFRASTRUCTURE_FAILURE_FILE, TEST_TIMEOUT, the sharding and output
// variables), which ctest and plain runs satisfy by leaving them unset. The
// rest of the library calls these functions and reads no runner variable
// itself. Knows nothing of GoogleTest.

namespace gtest_fork_env::detail {

// Where the library's temporary files go: $TEST_TMPDIR when the runner sets
// it (Bazel removes it after the test, and a remote worker has nothing else
// it cleans), else $TMPDIR, else /tmp.
std::string TempDir();

// Whether the "NAME=value" entry `entry` is one of the runner's per-test
// files or shard settings: XML_OUTPUT_FILE, TEST_PREMATURE_EXIT_FILE,
// TEST_SHARD_STATUS_FILE, TEST_SHARD_INDEX, TEST_TOTAL_SHARDS,
// GTEST_SHARD_INDEX, GTEST_TOTAL_SHARDS, GTEST_SHARD_STATUS_FILE,
// GTEST_OUTPUT, TEST_UNDECLARED_OUTPUTS_*, TEST_WARNINGS_OUTPUT_FILE and
// TEST_INFRASTRUCTURE_FAILURE_FILE. A server must not inherit them: a server
// that is itself a GoogleTest binary (a re-executed copy of the test) would
// write the test's XML, leave TEST_PREMATURE_EXIT_FILE behind when it
// _exits, or run only one shard's tests.
bool IsRunnerVariable(const char* entry) noexcept;

// Removes the runner's variables from this process's environment by
// compacting `environ` in place. For a forked server child: takes no lock and
// allocates nothing, so it is safe after fork() in a multithreaded parent.
void ScrubRunnerVariables() noexcept;

// Records that server `server_name` could not start, with the first line of
// `failure`, in $TEST_INFRASTRUCTURE_FAILURE_FILE when the runner asks for
// it (appended, so several servers each get a line), so a flaky machine can
// be told from a failing test. Does nothing without the variable. Errors are
// ignored: the failure itself is reported to GoogleTest anyway.
void ReportInfrastructureFailure(const std::string& server_name, const std::string& failure);

// Copies the log at `log_path` into $TEST_UNDECLARED_OUTPUTS_DIR (same base
// name, replacing an earlier copy), where a remote run brings files back.
// Returns the copy's path, or "" without the variable, without a log, or
// when the copy failed (then the log is still where the message says).
std::string CopyToUndeclaredOutputs(const std::string& log_path);

// The point after which a readiness wait must give up so the failure can
// still be reported before the runner's timeout ($TEST_TIMEOUT seconds from
// the start of this process) kills the test: 90% of the way there. The
// steady clock's maximum when TEST_TIMEOUT is unset or invalid.
std::chrono::steady_clock::time_point TestTimeoutDeadline();

// For a start that was given until `start_deadline` (start + start_timeout):
// the earlier of it and TestTimeoutDeadline().
std::chrono::steady_clock::time_point ReadinessDeadline(
    std::chrono::steady_clock::time_point start_deadline);

// "" when start_timeout alone bounded a start that was given until
// `start_deadline`; otherwise the sentence that says $TEST_TIMEOUT cut the
// wait short and what to do about it.
std::string TestTimeoutNote(std::chrono::steady_clock::time_point start_deadline);

}  // namespace gtest_fork_env::detail
