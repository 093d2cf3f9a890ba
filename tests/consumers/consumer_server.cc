// A user's production server: the serve function a test would fork, run on
// its own. It links gtest_fork_env::httplib_server only, so no GoogleTest;
// it reports its address through the ServerContext callback and stops on
// SIGTERM or SIGINT.

#include <gtest_fork_env/httplib_server.h>
#include <gtest_fork_env/server_context.h>
#include <httplib.h>

#include <cstdint>
#include <cstdio>

int main() {
  httplib::Server server;
  server.Get("/hello", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("hello", "text/plain");
  });
  gtest_fork_env::ServerContext context("consumer_server", "127.0.0.1", 0, [](uint16_t port) {
    std::printf("listening on http://127.0.0.1:%u\n", port);
    std::fflush(stdout);
  });
  return gtest_fork_env::ServeHttplib(server, context);
}
