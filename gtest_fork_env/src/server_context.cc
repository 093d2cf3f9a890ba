#include "gtest_fork_env/server_context.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "unique_fd.h"

namespace gtest_fork_env {

ServerContext::ServerContext(std::string name, std::string host, uint16_t port, int notify_fd)
    : name_(std::move(name)), host_(std::move(host)), port_(port), notify_fd_(notify_fd) {}

ServerContext::ServerContext(std::string name, std::string host, uint16_t port,
                             std::function<void(uint16_t)> on_listening)
    : name_(std::move(name)),
      host_(std::move(host)),
      port_(port),
      notify_fd_(-1),
      on_listening_(std::move(on_listening)) {}

void ServerContext::NotifyListening(uint16_t bound_port) {
  if (notified_) return;
  notified_ = true;
  if (on_listening_) on_listening_(bound_port);
  if (notify_fd_ < 0) return;
  // A line of text: the parent accepts nothing but "<port>\n".
  std::string line = std::to_string(bound_port) + "\n";
  if (auto error = detail::WriteAll(notify_fd_, line.data(), line.size())) {
    std::fprintf(stderr, "gtest_fork_env: server '%s' could not report port %u: %s\n",
                 name_.c_str(), bound_port, error.message().c_str());
  }
  close(notify_fd_);
  notify_fd_ = -1;
}

}  // namespace gtest_fork_env
