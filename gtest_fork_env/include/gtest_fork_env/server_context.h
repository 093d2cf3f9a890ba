#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace gtest_fork_env {

// What the server function gets in the child process: where to listen and a
// way to say that it does.
class ServerContext {
 public:
  // Made by ForkServerEnv; public for tests of server functions. `notify_fd`
  // is the write end of the pipe the parent waits on (-1: nobody waits).
  ServerContext(std::string name, std::string host, uint16_t port, int notify_fd);
  // For a server run on its own, outside any test (a production binary that
  // reuses its serve function): NotifyListening calls `on_listening` with the
  // bound port, once, for example to print the address. No pipe is involved.
  ServerContext(std::string name, std::string host, uint16_t port,
                std::function<void(uint16_t)> on_listening);
  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

  // Options::name of the server.
  const std::string& name() const { return name_; }
  // The address to bind (Options::host).
  const std::string& host() const { return host_; }
  // The port to bind: Options::port, where 0 means any free port.
  uint16_t port() const { return port_; }

  // Tells the parent that the server is bound and listening on
  // `bound_port`, so SetUp can probe it. Call it once, after listen() and
  // before serving; later calls are ignored. With port() == 0 the parent
  // cannot start probing before this call.
  // Errors: a failed write is printed to stderr (the server's log); the
  // parent then sees no port and fails SetUp with that log.
  void NotifyListening(uint16_t bound_port);

  // Whether NotifyListening was called.
  bool notified() const { return notified_; }

 private:
  std::string name_;
  std::string host_;
  uint16_t port_;
  int notify_fd_;
  bool notified_ = false;
  std::function<void(uint16_t)> on_listening_;  // empty with a notify_fd
};

}  // namespace gtest_fork_env
