#include "listen_socket.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

namespace gtest_fork_env::detail {

std::error_code Listen(const std::string& host, uint16_t port, UniqueFd& socket_fd,
                       uint16_t* bound_port) noexcept {
  struct addrinfo hints;
  std::memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
  struct addrinfo* addresses = nullptr;
  const std::string service = std::to_string(port);
  if (getaddrinfo(host.c_str(), service.c_str(), &hints, &addresses) != 0 || !addresses) {
    return std::make_error_code(std::errc::address_not_available);
  }
  UniqueFd sock(socket(addresses->ai_family, addresses->ai_socktype | SOCK_CLOEXEC,
                       addresses->ai_protocol));
  std::error_code error;
  int yes = 1;
  if (!sock) {
    error = LastError();
  } else if (setsockopt(sock.get(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes) != 0 ||
             bind(sock.get(), addresses->ai_addr, addresses->ai_addrlen) != 0 ||
             listen(sock.get(), SOMAXCONN) != 0) {
    error = LastError();
  }
  freeaddrinfo(addresses);
  if (error) return error;
  struct sockaddr_storage address;
  socklen_t length = sizeof address;
  if (getsockname(sock.get(), reinterpret_cast<struct sockaddr*>(&address), &length) != 0) {
    return LastError();
  }
  *bound_port = ntohs(address.ss_family == AF_INET6
                          ? reinterpret_cast<struct sockaddr_in6*>(&address)->sin6_port
                          : reinterpret_cast<struct sockaddr_in*>(&address)->sin_port);
  socket_fd = std::move(sock);
  return {};
}

std::error_code PickFreePort(const std::string& host, uint16_t* port) noexcept {
  UniqueFd sock;
  return Listen(host, 0, sock, port);
}

}  // namespace gtest_fork_env::detail
