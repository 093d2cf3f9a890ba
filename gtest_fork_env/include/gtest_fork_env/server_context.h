#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace gtest_fork_env {

namespace detail {
struct ServerContextAccess;
}

// What the server function gets in the child process: where to listen, a
// way to say that it does, its TLS files, and the checkpoint that makes it a
// template.
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

  // A directory of this server's own, made by the library: empty at the
  // start of each test (Scope::kTest) or test suite (Scope::kTestSuite), and
  // the same across Restart() within it; one for the whole binary under
  // Scope::kBinary. fork() copies memory, not files: keep the files a test
  // writes (a data file, a database) here, and no test sees another's.
  // Valid after Checkpoint() returns. Empty for a context made by hand.
  const std::string& data_dir() const { return data_dir_; }

  // Tells the parent that the server is bound and listening on
  // `bound_port`, so SetUp can probe it. Call it once, after listen() and
  // before serving; later calls are ignored. With port() == 0 the parent
  // cannot start probing before this call.
  // Errors: a failed write is printed to stderr (the server's log); the
  // parent then sees no port and fails SetUp with that log.
  void NotifyListening(uint16_t bound_port);

  // Whether NotifyListening was called.
  bool notified() const { return notified_; }

  // The end of the warm-up. Under Scope::kBinary (and for a context made by
  // hand) it returns at once. Under Scope::kTest and kTestSuite the process
  // at this point becomes the template: it never returns from this call and
  // never accepts a connection; for each test (or suite) it forks a
  // copy-on-write clone, and each clone returns from here to serve that one
  // test, with a fresh data_dir(). Everything before the call runs once per
  // binary: load data, build indexes, seed a store there.
  //
  // Call it after NotifyListening() and before serving, while the process
  // has one thread: start threads (a thread pool, a logger's thread) after
  // it. A process with more threads cannot be forked safely (a lock another
  // thread holds stays locked in the clone), so the start then fails at
  // once, naming the thread count. ServeHttplib calls it for you.
  void Checkpoint();

  // Whether this process is a clone of a template (it returned from
  // Checkpoint() under Scope::kTest or kTestSuite).
  bool is_clone() const { return is_clone_; }

  // A clone shares its listening socket with the template, and shutdown()
  // acts on the socket, not on one process's descriptor: a clone that shut
  // it down (as httplib's Server::stop() does) would stop every later
  // clone. Call this first, in the clone, when it stops: it makes
  // `listen_fd` a socket of the clone's own (so closing or shutting it down
  // touches nothing shared), and returns a function that wakes a thread
  // still blocked in accept() on the shared socket, by connecting to it;
  // call that after your stop. Outside a clone it does nothing.
  std::function<void()> DetachListeningSocket(int listen_fd);

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
  friend struct detail::ServerContextAccess;

  std::string name_;
  std::string host_;
  uint16_t port_;
  int notify_fd_;
  bool notified_ = false;
  bool is_clone_ = false;
  int control_fd_ = -1;  // the test process's end of the template protocol
  std::string data_dir_;
  std::function<void(uint16_t)> on_listening_;  // empty with a notify_fd
  std::string tls_cert_path_;
  std::string tls_key_path_;
  std::string tls_ca_path_;
};

}  // namespace gtest_fork_env
