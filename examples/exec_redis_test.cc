// Exec mode: any program as the server, here redis-server, with the {port}
// and {host} placeholders. Registered with ctest only where redis-server is
// installed (scripts/install_deps.sh installs it).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest_fork_env/fork_server_env.h>

#include <string>

namespace {

auto* const redis = static_cast<gtest_fork_env::ForkServerEnv*>(
    ::testing::AddGlobalTestEnvironment(gtest_fork_env::ForkServerEnv::Exec(
        {"redis-server", "--port", "{port}", "--bind", "{host}", "--save", "",
         "--daemonize", "no"})));

// Sends one inline command to the server and returns what arrives within 5 s
// (one read: redis answers a short command in one segment).
std::string Ask(const std::string& command) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "no socket";
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(redis->port());
  inet_pton(AF_INET, redis->host().c_str(), &address.sin_addr);
  std::string answer = "no answer";
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      send(fd, command.data(), command.size(), MSG_NOSIGNAL) == ssize_t(command.size())) {
    char buffer[256];
    const ssize_t got = recv(fd, buffer, sizeof buffer, 0);
    if (got > 0) answer.assign(buffer, static_cast<size_t>(got));
  }
  close(fd);
  return answer;
}

TEST(Redis, AnswersPing) { EXPECT_EQ(Ask("PING\r\n"), "+PONG\r\n"); }

}  // namespace
