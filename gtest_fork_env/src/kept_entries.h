#pragma once

#include <string>

namespace gtest_fork_env::detail {

// A test-only seam: when $GTEST_FORK_ENV_TEST_STOP_AT equals `point`, this
// process stops itself (SIGSTOP) here, until a SIGCONT. A test widens a race
// window this way and runs the other side while the process is stopped
// (tests/data_dirs_test.cc). The points: "data-dir-made" (a data
// directory's base exists, not yet locked) and "log-made" (the same for a log).
void StopHereForTests(const char* point) noexcept;

}  // namespace gtest_fork_env::detail
