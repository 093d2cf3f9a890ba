// Example: a test binary whose server needs a fixed port takes it from ctest's
// resource allocation (resource type "ports"), and port 0 without one. The
// server binds it exclusively (no SO_REUSEPORT), so two runs that shared a port
// could not both start. ctest_resources_test runs it under
// `ctest --resource-spec-file`; docs/running-across-machines.md quotes it.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <gtest_fork_env/ctest_resources.h>
#include <gtest_fork_env/fork_server_env.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <optional>

namespace {

int ServeOnItsPortAlone(gtest_fork_env::ServerContext& context) {
  int sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int yes = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);  // TIME_WAIT only
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
  context.NotifyListening(ntohs(address.sin_port));
  for (int i = 0; i < 600; ++i) sleep(1);  // until SIGTERM
  return 0;
}

gtest_fork_env::ForkServerEnv* env = nullptr;

}  // namespace

// Holds the port for a while, so that a second run on the same port would
// overlap with it.
TEST(CtestPort, HoldsItsPort) {
  std::printf("SERVER_PORT=%u\n", static_cast<unsigned>(env->port()));
  usleep(300 * 1000);
  EXPECT_TRUE(env->IsRunning());
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  gtest_fork_env::Options options;
  options.name = "ctest-port";
  const std::optional<gtest_fork_env::PortRange> ports = gtest_fork_env::CtestPortRange("ports");
  options.port = ports ? ports->first : 0;
  env = new gtest_fork_env::ForkServerEnv(ServeOnItsPortAlone, options);
  ::testing::AddGlobalTestEnvironment(env);
  return RUN_ALL_TESTS();
}
