#pragma once

// HTTP/1.1 replies and requests as bytes on the wire, for the tests that talk
// to a server over raw sockets and for the request fuzzer, which reads what
// the handlers wrote. Header-only; needs <httplib.h> for its
// case-insensitive header map.

#include <httplib.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace test_support {

// One HTTP response: status, headers (names compared without case) and body.
struct HttpReply {
  int status = 0;
  httplib::Headers headers;
  std::string body;

  // The first value of header `name`, or "".
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// Parses a reply's status line and header lines: `head` runs up to and
// including the CRLF of the last header line (without the empty line).
// nullopt when the status line is not "HTTP/1.1 NNN ..." or a header line
// has no colon. Spaces after the colon are skipped. The body is left empty.
inline std::optional<HttpReply> ParseReplyHead(std::string_view head) {
  if (head.substr(0, 9) != "HTTP/1.1 " || head.size() < 12) return std::nullopt;
  HttpReply reply;
  reply.status = std::atoi(std::string(head.substr(9, 3)).c_str());
  size_t line = head.find("\r\n") + 2;
  while (line < head.size()) {
    const size_t end = head.find("\r\n", line);
    const size_t colon = head.find(':', line);
    if (end == std::string_view::npos || colon == std::string_view::npos || colon > end) {
      return std::nullopt;
    }
    size_t value = colon + 1;
    while (value < end && head[value] == ' ') ++value;
    reply.headers.emplace(std::string(head.substr(line, colon - line)),
                          std::string(head.substr(value, end - value)));
    line = end + 2;
  }
  return reply;
}

// An HTTP/1.1 request for 127.0.0.1: the request line, Host, `headers`
// (each ending in CRLF), the empty line, then `body` as it is.
inline std::string Request(const std::string& method, const std::string& target,
                           const std::string& headers = "", const std::string& body = "") {
  return method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + "\r\n" + body;
}

}  // namespace test_support
