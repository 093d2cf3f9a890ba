#pragma once

// The one small httplib server every benchmark variant runs, so that the
// ratios compare the machinery that starts and stops it, not the server.

#include <httplib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include <gtest_fork_env/stop_signal.h>

namespace bench {

// Routes and settings, shared by every variant. A 1 s keep-alive timeout, as
// in the project's own test servers (httplib 0.11 holds stop() for the
// keep-alive timeout while an idle keep-alive connection is open; every
// client here sends "Connection: close", so it never does).
inline void ConfigureSmallServer(httplib::Server& server) {
  server.set_keep_alive_timeout(1);
  server.Get("/hello", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("hello", "text/plain");
  });
}

// The server side of the floors, written out: the same steps as
// gtest_fork_env::ServeHttplib with port 0 (stop signal watcher,
// bind_to_any_port, report the port, listen_after_bind), and the same stop
// path (SIGTERM -> StopSignalWatcher's thread -> server.stop()), so a floor
// and a ForkServerEnv variant differ only in what the parent does.
//
// `port` 0: any free port, written as "<port>\n" to `port_fd`. Otherwise that
// port (for the naive variants). Returns the exit code.
inline int ServeSmall(const std::string& host, uint16_t port, int port_fd) {
  httplib::Server server;
  ConfigureSmallServer(server);
  gtest_fork_env::StopSignalWatcher watcher([&server] {
    if (!server.is_running()) return false;
    server.stop();
    return true;
  });
  if (watcher.error()) return 1;
  int bound = port == 0 ? server.bind_to_any_port(host)
                        : (server.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    std::fprintf(stderr, "small server: cannot bind %s:%u\n", host.c_str(), port);
    return 1;
  }
  if (port_fd >= 0) {
    std::string line = std::to_string(bound) + "\n";
    if (write(port_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return 1;
    close(port_fd);
  }
  server.listen_after_bind();
  return watcher.stop_requested() ? 0 : 1;
}

}  // namespace bench
