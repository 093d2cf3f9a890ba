#include "gtest_fork_env/server_context.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "checkpoint.h"
#include "unique_fd.h"

namespace gtest_fork_env {

// A context with no pipe to report to is made by a program's own code. In
// exec mode under Scope::kTest or kTestSuite the library hands that program
// the template protocol's socket: its Checkpoint() then makes it a template.
ServerContext::ServerContext(std::string name, std::string host, uint16_t port, int notify_fd)
    : name_(std::move(name)), host_(std::move(host)), port_(port), notify_fd_(notify_fd) {
  if (notify_fd_ < 0) control_fd_ = detail::TakeTemplateChannel(/*announce_linked=*/true);
}

ServerContext::ServerContext(std::string name, std::string host, uint16_t port,
                             std::function<void(uint16_t)> on_listening)
    : name_(std::move(name)),
      host_(std::move(host)),
      port_(port),
      notify_fd_(-1),
      control_fd_(detail::TakeTemplateChannel(/*announce_linked=*/true)),
      on_listening_(std::move(on_listening)) {}

void ServerContext::NotifyListening(uint16_t bound_port) {
  if (notified_) return;
  notified_ = true;
  if (on_listening_) on_listening_(bound_port);
  if (notify_fd_ < 0) return;
  // A line of text: the parent accepts nothing but "<port>\n". On a fixed
  // port the parent's probe may have passed already and the parent closed
  // its end: EPIPE then, which is no failure, and never SIGPIPE.
  std::string line = std::to_string(bound_port) + "\n";
  std::error_code error;
  {
    detail::SigpipeBlocker no_sigpipe;
    error = detail::WriteAll(notify_fd_, line.data(), line.size());
  }
  if (error && error != std::errc::broken_pipe) {
    std::fprintf(stderr, "gtest_fork_env: server '%s' could not report port %u: %s\n",
                 name_.c_str(), bound_port, error.message().c_str());
  }
  close(notify_fd_);
  notify_fd_ = -1;
}

void ServerContext::Checkpoint() {
  if (control_fd_ < 0) return;
  const int control_fd = control_fd_;
  control_fd_ = -1;
  // Returns only in a clone, or when no test process listens any more; the
  // template ends inside.
  is_clone_ = detail::BecomeTemplate(control_fd, &data_dir_);
}

std::function<void()> ServerContext::DetachListeningSocket(int listen_fd) {
  if (!is_clone_ || listen_fd < 0) return [] {};
  struct sockaddr_storage address;
  socklen_t length = sizeof address;
  if (getsockname(listen_fd, reinterpret_cast<struct sockaddr*>(&address), &length) != 0) {
    return [] {};
  }
  const int own = socket(address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (own < 0 || dup2(own, listen_fd) < 0) return [] {};
  close(own);
  return [address, length] {
    const int poke = socket(address.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (poke < 0) return;
    // A connection is enough: accept() returns it and the loop ends. A
    // wildcard address is reached through loopback.
    struct sockaddr_storage target = address;
    if (target.ss_family == AF_INET) {
      auto* v4 = reinterpret_cast<struct sockaddr_in*>(&target);
      if (v4->sin_addr.s_addr == htonl(INADDR_ANY)) v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (target.ss_family == AF_INET6) {
      auto* v6 = reinterpret_cast<struct sockaddr_in6*>(&target);
      if (IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr)) v6->sin6_addr = in6addr_loopback;
    }
    connect(poke, reinterpret_cast<struct sockaddr*>(&target), length);
    close(poke);
  };
}

}  // namespace gtest_fork_env
