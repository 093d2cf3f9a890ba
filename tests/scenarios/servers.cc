#include "servers.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <gtest_fork_env/httplib_server.h>

namespace scenarios {
namespace {

pid_t g_grandchild = -1;

}  // namespace

int ServeHello(gtest_fork_env::ServerContext& context) {
  std::printf("server %s starting\n", context.name().c_str());
  std::fflush(stdout);
  httplib::Server server;
  server.set_keep_alive_timeout(1);
  const std::string name = context.name();
  server.Get("/hello", [name](const httplib::Request&, httplib::Response& response) {
    response.set_content("hello from " + name, "text/plain");
  });
  server.Get("/pid", [](const httplib::Request&, httplib::Response& response) {
    response.set_content(std::to_string(getpid()), "text/plain");
  });
  server.Get("/grandchild", [](const httplib::Request&, httplib::Response& response) {
    response.set_content(std::to_string(g_grandchild), "text/plain");
  });
  server.Get("/log", [](const httplib::Request& request, httplib::Response& response) {
    std::printf("%s\n", request.get_param_value("line").c_str());
    std::fflush(stdout);
    response.set_content("logged", "text/plain");
  });
  server.Get("/die", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("dying", "text/plain");
    std::thread([] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      std::printf("server exits with code 3 as asked\n");
      std::fflush(stdout);
      std::_Exit(3);
    }).detach();
  });
  return gtest_fork_env::ServeHttplib(server, context);
}

int ServeWithGrandchild(gtest_fork_env::ServerContext& context) {
  g_grandchild = fork();
  if (g_grandchild == 0) {
    signal(SIGTERM, SIG_IGN);
    for (int i = 0; i < 600; ++i) sleep(1);  // bounded: 10 minutes at most
    _exit(0);
  }
  std::printf("grandchild pid %d\n", static_cast<int>(g_grandchild));
  return ServeHello(context);
}

int ServeIgnoringSigterm(gtest_fork_env::ServerContext& context) {
  int sock = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(context.port());
  inet_pton(AF_INET, context.host().c_str(), &address.sin_addr);
  if (bind(sock, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      listen(sock, 16) != 0) {
    std::perror("bind/listen");
    return 1;
  }
  socklen_t length = sizeof address;
  getsockname(sock, reinterpret_cast<sockaddr*>(&address), &length);
  signal(SIGTERM, SIG_IGN);
  std::printf("ignoring SIGTERM from now on\n");
  std::fflush(stdout);
  context.NotifyListening(ntohs(address.sin_port));
  for (int i = 0; i < 600; ++i) sleep(1);
  return 0;
}

}  // namespace scenarios
