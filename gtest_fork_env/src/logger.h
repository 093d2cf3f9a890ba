#pragma once

#include <spdlog/logger.h>

namespace gtest_fork_env::detail {

// The library's logger, "gtest_fork_env", writing to stderr. Its level comes
// from SPDLOG_LEVEL ("debug", or "gtest_fork_env=debug,warn" as spdlog's own
// env loader reads it) and is "info" otherwise; a passing run logs nothing at
// that level. Registered with spdlog, so spdlog::get("gtest_fork_env") finds
// it. Use it only in the test process, never in a server child.
spdlog::logger& Log();

}  // namespace gtest_fork_env::detail
