#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace gtest_fork_env::detail {

// One readiness attempt. On failure `reason` says what was seen
// ("Connection refused", "status 503", "no answer within 250 ms").
struct ProbeResult {
  bool ok = false;
  std::string reason;
};

// Opens and closes one TCP connection to host:port within `timeout`.
ProbeResult TcpConnectOnce(const std::string& host, uint16_t port,
                           std::chrono::milliseconds timeout);

// Sends one "GET path HTTP/1.1" (Connection: close) and checks that the
// status code is in [min_status, max_status], all within `timeout`. Raw
// sockets on purpose: the core library does not depend on an HTTP library.
ProbeResult HttpGetOnce(const std::string& host, uint16_t port, const std::string& path,
                        int min_status, int max_status, std::chrono::milliseconds timeout);

}  // namespace gtest_fork_env::detail
