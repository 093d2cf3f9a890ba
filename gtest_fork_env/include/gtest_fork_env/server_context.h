#pragma once

#include <cstdint>
#include <string>

namespace gtest_fork_env {

namespace detail {
struct ServerContextAccess;
}

// What the server function gets in the child process: where to listen and a
// way to say that it does.
class ServerContext {
 public:
  // Made by ForkServerEnv; public for tests of server functions. `notify_fd`
  // is the write end of the pipe the parent waits on (-1: nobody waits).
  ServerContext(std::string name, std::string host, uint16_t port, int notify_fd);
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

  // Options::tls: the server's certificate (PEM, signed by the test CA, its
  // names covering host(), 127.0.0.1, ::1 and localhost), its private key, and
  // the CA certificate, to verify client certificates with under
  // Options::tls_client_auth. All empty when TLS is off. For httplib:
  //   httplib::SSLServer server(context.tls_cert_path().c_str(),
  //                             context.tls_key_path().c_str());
  const std::string& tls_cert_path() const { return tls_cert_path_; }
  const std::string& tls_key_path() const { return tls_key_path_; }
  const std::string& tls_ca_path() const { return tls_ca_path_; }

 private:
  friend struct detail::ServerContextAccess;  // sets the TLS paths
  std::string name_;
  std::string host_;
  uint16_t port_;
  int notify_fd_;
  bool notified_ = false;
  std::string tls_cert_path_;
  std::string tls_key_path_;
  std::string tls_ca_path_;
};

}  // namespace gtest_fork_env
