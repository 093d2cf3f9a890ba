#include "probe.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "unique_fd.h"

namespace gtest_fork_env::detail {
namespace {

using Clock = std::chrono::steady_clock;

int MillisecondsLeft(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// Waits for `events` on `fd` until `deadline`; false on timeout.
bool WaitFor(int fd, short events, Clock::time_point deadline) {
  struct pollfd entry = {fd, events, 0};
  int ready = RetryOnEintr([&] { return poll(&entry, 1, MillisecondsLeft(deadline)); });
  return ready > 0;
}

// A connected non-blocking socket, or an empty one with `reason` set.
UniqueFd Connect(const std::string& host, uint16_t port, Clock::time_point deadline,
                 std::string& reason) {
  struct addrinfo hints;
  std::memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  struct addrinfo* addresses = nullptr;
  std::string service = std::to_string(port);
  int resolved = getaddrinfo(host.c_str(), service.c_str(), &hints, &addresses);
  if (resolved != 0) {
    reason = std::string("cannot resolve host: ") + gai_strerror(resolved);
    return UniqueFd();
  }
  UniqueFd result;
  for (struct addrinfo* address = addresses; address && !result; address = address->ai_next) {
    UniqueFd sock(socket(address->ai_family, address->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                         address->ai_protocol));
    if (!sock) {
      reason = std::strerror(errno);
      continue;
    }
    if (connect(sock.get(), address->ai_addr, address->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        reason = std::strerror(errno);
        continue;
      }
      if (!WaitFor(sock.get(), POLLOUT, deadline)) {
        reason = "connect timed out";
        continue;
      }
      int error = 0;
      socklen_t length = sizeof error;
      getsockopt(sock.get(), SOL_SOCKET, SO_ERROR, &error, &length);
      if (error != 0) {
        reason = std::strerror(error);
        continue;
      }
    }
    result = std::move(sock);
  }
  freeaddrinfo(addresses);
  return result;
}

}  // namespace

ProbeResult TcpConnectOnce(const std::string& host, uint16_t port,
                           std::chrono::milliseconds timeout) {
  ProbeResult result;
  UniqueFd sock = Connect(host, port, Clock::now() + timeout, result.reason);
  result.ok = static_cast<bool>(sock);
  return result;
}

ProbeResult HttpGetOnce(const std::string& host, uint16_t port, const std::string& path,
                        int min_status, int max_status, std::chrono::milliseconds timeout) {
  ProbeResult result;
  const auto deadline = Clock::now() + timeout;
  UniqueFd sock = Connect(host, port, deadline, result.reason);
  if (!sock) return result;

  std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + host + ":" +
                        std::to_string(port) +
                        "\r\nUser-Agent: gtest_fork_env-probe\r\nConnection: close\r\n\r\n";
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = send(sock.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!WaitFor(sock.get(), POLLOUT, deadline)) {
        result.reason = "request not sent in time";
        return result;
      }
      continue;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      result.reason = std::string("send: ") + std::strerror(errno);
      return result;
    }
    sent += static_cast<size_t>(n);
  }

  std::string response;
  while (response.find("\r\n") == std::string::npos && response.size() < 1024) {
    if (!WaitFor(sock.get(), POLLIN, deadline)) {
      result.reason = "no status line within " + std::to_string(timeout.count()) + " ms";
      return result;
    }
    char buffer[512];
    ssize_t n = recv(sock.get(), buffer, sizeof buffer, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      result.reason = n == 0 ? "connection closed before a status line"
                             : std::string("recv: ") + std::strerror(errno);
      return result;
    }
    response.append(buffer, static_cast<size_t>(n));
  }
  // "HTTP/1.1 200 OK"
  int status = 0;
  size_t space = response.find(' ');
  if (response.compare(0, 5, "HTTP/") == 0 && space != std::string::npos) {
    status = std::atoi(response.c_str() + space + 1);
  }
  if (status == 0) {
    result.reason = "not an HTTP response: " + response.substr(0, response.find("\r\n")).substr(0, 80);
    return result;
  }
  result.ok = status >= min_status && status <= max_status;
  if (!result.ok) result.reason = "status " + std::to_string(status);
  return result;
}

}  // namespace gtest_fork_env::detail
