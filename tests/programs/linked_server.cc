// A server program of its own (its own main(), flags) that links only
// gtest_fork_env's server side, as a production executable would: it makes
// its ServerContext by hand and serves with ServeHttplib. Run outside the
// library it serves at once; run by ForkServerEnv::Exec under Scope::kTest
// it becomes the template at ServeHttplib's Checkpoint(). The routes are the
// per_test_scope scenario's (scenarios/scoped_routes.h).
//
//   linked_server --port N [--warmup-file PATH] [--thread-before-checkpoint]
//                 [--marker M]   (ignored: lets a test find the process)

#include <httplib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "gtest_fork_env/httplib_server.h"
#include "gtest_fork_env/server_context.h"
#include "scenarios/scoped_routes.h"

int main(int argc, char** argv) {
  uint16_t port = 0;
  std::string warmup_file;
  bool thread_before_checkpoint = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--port" && i + 1 < argc) port = static_cast<uint16_t>(std::atoi(argv[++i]));
    if (arg == "--warmup-file" && i + 1 < argc) warmup_file = argv[++i];
    if (arg == "--thread-before-checkpoint") thread_before_checkpoint = true;
  }
  if (!warmup_file.empty()) std::ofstream(warmup_file, std::ios::app) << getpid() << "\n";
  if (thread_before_checkpoint) {
    std::thread([] { std::this_thread::sleep_for(std::chrono::seconds(30)); }).detach();
  }
  std::string value = "unset";
  httplib::Server server;
  server.set_keep_alive_timeout(1);
  scenarios::InstallScopedRoutes(server, value);
  gtest_fork_env::ServerContext context("linked_server", "127.0.0.1", port, [](uint16_t bound) {
    std::printf("listening on port %u\n", bound);
    std::fflush(stdout);
  });
  server.Get("/data-dir", [&context](const httplib::Request&, httplib::Response& response) {
    response.set_content(context.data_dir(), "text/plain");
  });
  return gtest_fork_env::ServeHttplib(server, context);
}
