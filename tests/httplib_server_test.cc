// ServeHttplib's sockets: every TCP socket of the server, the listening one
// and each accepted connection, has TCP_NODELAY, whatever the server code
// said (here: nothing, httplib's default is off), so that no response on a
// kept-alive connection waits for the client's delayed ACK.

#include <dirent.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <gtest_fork_env/fork_server_env.h>
#include <gtest_fork_env/httplib_server.h>

namespace {

// "<listening>/<connections>/<without TCP_NODELAY>": the TCP sockets of this
// process, read from /proc/self/fd.
std::string TcpSocketsAndNodelay() {
  int listening = 0, connections = 0, without = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (dirent* entry = readdir(dir)) {
      const int fd = std::atoi(entry->d_name);
      struct stat info;
      int type = 0, accepting = 0, nodelay = 0;
      socklen_t size = sizeof type;
      if (entry->d_name[0] == '.' || fstat(fd, &info) != 0 || !S_ISSOCK(info.st_mode) ||
          getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &size) != 0 || type != SOCK_STREAM) {
        continue;
      }
      size = sizeof nodelay;
      if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &size) != 0) continue;  // not TCP
      size = sizeof accepting;
      getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &size);
      (accepting ? listening : connections) += 1;
      without += nodelay ? 0 : 1;
    }
    closedir(dir);
  }
  return std::to_string(listening) + "/" + std::to_string(connections) + "/" +
         std::to_string(without);
}

int ServeSockets(gtest_fork_env::ServerContext& context) {
  httplib::Server server;
  server.Get("/sockets", [](const httplib::Request&, httplib::Response& response) {
    response.set_content(TcpSocketsAndNodelay(), "text/plain");
  });
  return gtest_fork_env::ServeHttplib(server, context);
}

gtest_fork_env::Options Named(const std::string& name, gtest_fork_env::Scope scope) {
  gtest_fork_env::Options options;
  options.name = name;
  options.scope = scope;
  return options;
}

auto* const plain = static_cast<gtest_fork_env::ForkServerEnv*>(::testing::AddGlobalTestEnvironment(
    new gtest_fork_env::ForkServerEnv(ServeSockets, Named("plain", gtest_fork_env::Scope::kBinary))));
auto* const cloned = static_cast<gtest_fork_env::ForkServerEnv*>(::testing::AddGlobalTestEnvironment(
    new gtest_fork_env::ForkServerEnv(ServeSockets, Named("cloned", gtest_fork_env::Scope::kTest))));

std::string Sockets(gtest_fork_env::ForkServerEnv* env) {
  httplib::Client client(env->host(), env->port());
  client.set_read_timeout(5, 0);
  auto answer = client.Get("/sockets");
  return answer ? answer->body : "no answer: " + httplib::to_string(answer.error());
}

// One listening socket, at least this request's connection, none without
// TCP_NODELAY.
void ExpectAllNodelay(const std::string& sockets) {
  ASSERT_EQ(sockets.substr(0, 2), "1/") << sockets;
  EXPECT_NE(sockets.substr(2, 2), "0/") << "no connection seen: " << sockets;
  EXPECT_EQ(sockets.substr(sockets.rfind('/')), "/0") << "sockets without TCP_NODELAY: " << sockets;
}

TEST(ServeHttplibSockets, AServerOfItsOwnHasNodelayOnEverySocket) { ExpectAllNodelay(Sockets(plain)); }

TEST(ServeHttplibSockets, ACloneHasNodelayOnEverySocket) { ExpectAllNodelay(Sockets(cloned)); }

}  // namespace
