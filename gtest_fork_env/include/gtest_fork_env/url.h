#pragma once

#include <cstdint>
#include <string>

namespace gtest_fork_env {

// "scheme://host:port", with an IPv6 host in brackets ("http://[::1]:8080",
// RFC 3986). The one rule for a server's address: ForkServerEnv::url(), the
// {url} placeholder and the sample server's banner all use it. Header-only,
// so a server program can use it without linking the library.
inline std::string FormatUrl(const std::string& scheme, const std::string& host, uint16_t port) {
  const bool ipv6 = host.find(':') != std::string::npos && host.front() != '[';
  return scheme + "://" + (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace gtest_fork_env
