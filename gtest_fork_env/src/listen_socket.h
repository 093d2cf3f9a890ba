#pragma once

#include <cstdint>
#include <string>
#include <system_error>

#include "unique_fd.h"

namespace gtest_fork_env::detail {

// A listening TCP socket on host:port (port 0: any free port), close-on-exec,
// with SO_REUSEADDR so a restarted server can bind a port in TIME_WAIT.
// `bound_port` receives the port. Errors: resolve, socket, bind, listen.
std::error_code Listen(const std::string& host, uint16_t port, UniqueFd& socket,
                       uint16_t* bound_port) noexcept;

// A port that was free a moment ago: bound and closed at once. Another
// process may take it before the program binds it; callers retry.
std::error_code PickFreePort(const std::string& host, uint16_t* port) noexcept;

}  // namespace gtest_fork_env::detail
