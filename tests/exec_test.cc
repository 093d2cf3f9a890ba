// Exec mode with real programs: python3's http.server, redis-server, and a
// small socket-activated server of our own.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include "gtest_fork_env/fork_server_env.h"
#include "support/subprocess.h"

namespace {

using gtest_fork_env::ForkServerEnv;
using gtest_fork_env::Options;
using gtest_fork_env::Probe;

// A directory for this process's files: created when the environments are
// made, before SetUp.
std::string MakeTempDir() {
  char dir[] = "/tmp/gtest_fork_env-exec-test-XXXXXX";
  if (!mkdtemp(dir)) return "/tmp";
  std::ofstream(std::string(dir) + "/hello.txt") << "hello from a file";
  return dir;
}
const std::string temp_dir = MakeTempDir();

ForkServerEnv* Add(ForkServerEnv* env) {
  return static_cast<ForkServerEnv*>(::testing::AddGlobalTestEnvironment(env));
}

Options Named(const std::string& name) {
  Options options;
  options.name = name;
  return options;
}

ForkServerEnv* const python = [] {
  Options options = Named("py-files");
  options.probe = Probe::HttpGet("/hello.txt");
  return Add(ForkServerEnv::Exec(
      {"python3", "-m", "http.server", "{port}", "--bind", "{host}", "--directory", temp_dir},
      options));
}();

ForkServerEnv* const redis = Add(ForkServerEnv::Exec(
    {"redis-server", "--port", "{port}", "--bind", "{host}", "--save", "", "--appendonly", "no",
     "--daemonize", "no"},
    Named("redis")));

ForkServerEnv* const activated = [] {
  Options options = Named("activated");
  options.socket_activation = true;
  return Add(ForkServerEnv::Exec({SOCKET_ACTIVATED_SERVER}, options));
}();

// Says "Address already in use" and exits twice, as a program that lost the
// race for its port would, then serves.
ForkServerEnv* const unlucky = [] {
  Options options = Named("unlucky");
  options.env = {"TRIES_DIR=" + temp_dir};
  return Add(ForkServerEnv::Exec(
      {"/bin/sh", "-c",
       "n=$(ls \"$TRIES_DIR\" | grep -c '^try'); "
       "if [ \"$n\" -lt 2 ]; then touch \"$TRIES_DIR/try$n\"; "
       "echo \"OSError: [Errno 98] Address already in use\" >&2; exit 1; fi; "
       "exec python3 -m http.server {port} --bind {host} --directory \"$TRIES_DIR\""},
      options));
}();

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

// One exchange on a raw socket, bounded by `timeout_ms`.
std::string Exchange(uint16_t port, const std::string& request, int timeout_ms = 5000) {
  int sock = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  std::string answer;
  if (connect(sock, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      send(sock, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    struct pollfd event = {sock, POLLIN, 0};
    while (poll(&event, 1, timeout_ms) > 0) {
      char buffer[1024];
      ssize_t got = recv(sock, buffer, sizeof buffer, 0);
      if (got <= 0) break;
      answer.append(buffer, static_cast<size_t>(got));
      if (answer.find("\r\n") != std::string::npos && request.rfind("PING", 0) == 0) break;
    }
  }
  close(sock);
  return answer;
}

std::string BodyOf(const std::string& response) {
  size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

TEST(Exec, PythonHttpServerServesAFile) {
  httplib::Client client(python->host(), python->port());
  auto answer = client.Get("/hello.txt");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(answer->body, "hello from a file");
}

TEST(Exec, RedisAnswersPing) { EXPECT_EQ(Exchange(redis->port(), "PING\r\n"), "+PONG\r\n"); }

TEST(Exec, ServersHaveTheirOwnPorts) {
  std::set<uint16_t> ports = {python->port(), redis->port(), activated->port(), unlucky->port()};
  EXPECT_EQ(ports.size(), 4u);
  EXPECT_EQ(ports.count(0), 0u);
}

TEST(Exec, AddressIsExportedToTheEnvironment) {
  ASSERT_NE(std::getenv("GTEST_FORK_ENV_PY_FILES_URL"), nullptr);
  EXPECT_EQ(std::string(std::getenv("GTEST_FORK_ENV_PY_FILES_URL")), python->url());
  EXPECT_EQ(std::string(std::getenv("GTEST_FORK_ENV_REDIS_PORT")),
            std::to_string(redis->port()));
  EXPECT_EQ(std::string(std::getenv("GTEST_FORK_ENV_ACTIVATED_PID")),
            std::to_string(activated->pid()));
}

TEST(Exec, ProgramThatLostItsPortIsStartedAgainOnAFreshOne) {
  std::string log = ReadFile(unlucky->log_path());
  EXPECT_EQ(test_support::CountOf(log, "Address already in use"), 2u) << log;
  httplib::Client client(unlucky->host(), unlucky->port());
  auto answer = client.Get("/");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200);
}

TEST(SocketActivation, ProgramServesOnTheSocketItWasGiven) {
  std::string answer = BodyOf(Exchange(activated->port(), "GET / HTTP/1.0\r\n\r\n"));
  EXPECT_EQ(answer, "activated " + std::to_string(activated->pid()) + " activated");
}

TEST(SocketActivation, ProgramHoldsOnlyStdioAndItsSocket) {
  std::set<std::string> fds;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(activated->pid()) + "/fd")) {
    fds.insert(entry.path().filename().string());
  }
  EXPECT_EQ(fds, (std::set<std::string>{"0", "1", "2", "3"}));
}

TEST(SocketActivation, RestartKeepsThePortAndStartsANewProcess) {
  const uint16_t port = activated->port();
  const pid_t before = activated->pid();
  ASSERT_TRUE(activated->Restart());
  EXPECT_EQ(activated->port(), port);
  EXPECT_NE(activated->pid(), before);
  EXPECT_EQ(BodyOf(Exchange(port, "GET / HTTP/1.0\r\n\r\n")),
            "activated " + std::to_string(activated->pid()) + " activated");
}

TEST(SocketActivation, ConnectionsMadeWhileStoppedAreServedAfterStart) {
  const uint16_t port = activated->port();
  ASSERT_TRUE(activated->Stop());
  // The library still holds the listening socket: the kernel accepts and
  // queues this connection until the new process calls accept().
  int sock = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  ASSERT_EQ(connect(sock, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  const std::string request = "GET / HTTP/1.0\r\n\r\n";
  ASSERT_EQ(send(sock, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  ASSERT_TRUE(activated->Start());
  std::string answer;
  struct pollfd event = {sock, POLLIN, 0};
  while (poll(&event, 1, 5000) > 0) {
    char buffer[512];
    ssize_t got = recv(sock, buffer, sizeof buffer, 0);
    if (got <= 0) break;
    answer.append(buffer, static_cast<size_t>(got));
  }
  close(sock);
  EXPECT_EQ(BodyOf(answer), "activated " + std::to_string(activated->pid()) + " activated");
}

}  // namespace
