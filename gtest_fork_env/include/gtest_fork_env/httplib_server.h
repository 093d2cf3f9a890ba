#pragma once

// The cpp-httplib adapter. Header-only on purpose: it compiles with the
// CPPHTTPLIB_* settings of the code that includes it, and the core library
// does not depend on httplib.

#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstdio>
#include <functional>
#include <typeinfo>

#include "gtest_fork_env/httplib_worker_pool.h"
#include "gtest_fork_env/server_context.h"
#include "gtest_fork_env/stop_signal.h"

namespace gtest_fork_env {
namespace detail {

// Whether `server` still has the task queue httplib's constructor gave it
// (std::function::target_type names the lambda inside httplib). The first
// call makes a Server to learn that type: before Checkpoint(), so that no
// clone pays for it.
inline bool HasHttplibsOwnTaskQueue(const httplib::Server& server) {
  static const std::type_info& httplibs_own = httplib::Server().new_task_queue.target_type();
  return server.new_task_queue.target_type() == httplibs_own;
}

// httplib's pool size. Its macro asks hardware_concurrency() twice, which
// reads /sys/devices/system/cpu/online each time: the first call, before
// Checkpoint(), keeps the answer for every clone.
inline size_t HttplibWorkerCount() {
  static const size_t count = CPPHTTPLIB_THREAD_POOL_COUNT;
  return count;
}

// In a clone, httplib's own queue (all its workers at once) becomes an
// OnDemandWorkerPool of the same maximum.
inline void MakeWorkersOnDemandInAClone(httplib::Server& server, const ServerContext& context) {
  if (context.is_clone() && HasHttplibsOwnTaskQueue(server)) {
    server.new_task_queue = [] { return new OnDemandWorkerPool(HttplibWorkerCount()); };
  }
}

// The listening socket's options (see ServeHttplib), in place of httplib's;
// `listen_fd` learns the socket when the server binds.
inline void SetListeningSocketOptions(httplib::Server& server, socket_t& listen_fd) {
  server.set_socket_options([&listen_fd](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    listen_fd = sock;
  });
}

}  // namespace detail

// Serves `server` in a ForkServerEnv child until the stop signal arrives.
// Binds context.host() on context.port() (any free port when it is 0),
// reports the bound port with NotifyListening, calls context.Checkpoint()
// (under Scope::kTest each test then gets a clone of this process from that
// point: code before ServeHttplib runs once), serves, and on SIGTERM or
// SIGINT calls server.stop() from a watcher thread (never from the signal
// handler). Returns 0 after a requested stop, 1 when binding or serving
// failed (the reason is printed to stderr, the server's log).
//
// The listening socket gets SO_REUSEADDR only, replacing httplib's default
// (SO_REUSEPORT alone on Linux): a fixed port that is taken then fails
// loudly instead of being shared with another server, and Restart() can bind
// the port again while connections of the previous server are in TIME_WAIT
// (that needs SO_REUSEADDR on both the old and the new socket). It also gets
// TCP_NODELAY, which every accepted connection inherits, whatever
// set_tcp_nodelay() said: httplib writes a response's headers and body in
// two sends, and with Nagle's algorithm on, every response after the first
// on a kept-alive connection waits for the client's delayed ACK (40 ms on
// Linux). Options that act on the listening socket (set_socket_options,
// set_tcp_nodelay, set_address_family, set_ipv6_v6only) take effect only when
// set before ServeHttplib, not in `after_checkpoint`.
//
// In a clone, unless the code set server.new_task_queue itself, httplib's
// workers are made as connections need them (OnDemandWorkerPool, at most
// CPPHTTPLIB_THREAD_POOL_COUNT), not all at once.
inline int ServeHttplib(httplib::Server& server, ServerContext& context,
                        const std::function<int()>& after_checkpoint);

// As above, with nothing to do after the checkpoint.
inline int ServeHttplib(httplib::Server& server, ServerContext& context) {
  return ServeHttplib(server, context, [] { return 0; });
}

// `after_checkpoint` runs after Checkpoint() and before serving: under
// Scope::kTest once in each clone, so that it can open what must be fresh for
// each test (a data file in context.data_dir(), a connection); it may still
// add routes to `server`. A code other than 0 ends the server with that code,
// before it serves.
inline int ServeHttplib(httplib::Server& server, ServerContext& context,
                        const std::function<int()>& after_checkpoint) {
  if (!server.is_valid()) {
    // An httplib::SSLServer whose certificate, key or client CA did not load.
    std::fprintf(stderr,
                 "gtest_fork_env: server '%s' cannot serve: its TLS certificate or key could not "
                 "be loaded (httplib::SSLServer is not valid). Build it from "
                 "context.tls_cert_path() (%s) and context.tls_key_path() (%s), with "
                 "Options::tls on.\n",
                 context.name().c_str(), context.tls_cert_path().c_str(),
                 context.tls_key_path().c_str());
    return 1;
  }
  socket_t listen_fd = INVALID_SOCKET;
  detail::SetListeningSocketOptions(server, listen_fd);
  int port = -1;
  if (context.port() == 0) {
    port = server.bind_to_any_port(context.host());
  } else if (server.bind_to_port(context.host(), context.port())) {
    port = context.port();
  }
  if (port <= 0) {
    std::fprintf(stderr, "gtest_fork_env: server '%s' cannot bind %s:%u\n",
                 context.name().c_str(), context.host().c_str(), context.port());
    return 1;
  }
  detail::HasHttplibsOwnTaskQueue(server);  // learns the type in the template
  detail::HttplibWorkerCount();             // and the pool size
  context.NotifyListening(static_cast<uint16_t>(port));
  // The template (Scope::kTest, kTestSuite) stops here; each clone goes on.
  // Threads start only after it: the watcher's below, httplib's pool in
  // listen_after_bind().
  context.Checkpoint();
  if (const int code = after_checkpoint()) return code;
  detail::MakeWorkersOnDemandInAClone(server, context);
  StopSignalWatcher watcher([&server, &context, listen_fd] {
    if (!server.is_running()) return false;
    // A clone must not shut down the listening socket it shares with the
    // template: Server::stop() would.
    auto wake_accept = context.DetachListeningSocket(listen_fd);
    server.stop();
    wake_accept();
    return true;
  });
  if (watcher.error()) {
    std::fprintf(stderr, "gtest_fork_env: cannot watch the stop signals: %s\n",
                 watcher.error().message().c_str());
    return 1;
  }
  bool served = server.listen_after_bind();
  if (!served && !watcher.stop_requested()) {
    std::fprintf(stderr, "gtest_fork_env: server '%s' stopped serving on its own\n",
                 context.name().c_str());
    return 1;
  }
  return 0;
}

}  // namespace gtest_fork_env
