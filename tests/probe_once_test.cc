// One attempt of each readiness probe function (probe.h), against real
// sockets on 127.0.0.1. How ForkServerEnv waits with them is
// readiness_probes_test.cc.

#include "probe.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace {

using gtest_fork_env::detail::HttpGetOnce;
using gtest_fork_env::detail::TcpConnectOnce;
using std::chrono::milliseconds;

// A listening socket on a free loopback port; closed with the object.
struct Listener {
  Listener() {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    listen(fd, 16);
    socklen_t length = sizeof address;
    getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    port = ntohs(address.sin_port);
  }
  ~Listener() { close(fd); }
  int fd;
  uint16_t port;
};

// A port that nothing listens on: bound, never listened, then closed.
uint16_t ClosedPort() {
  Listener listener;
  return listener.port;
}

TEST(TcpConnectProbe, PassesOnAListeningPort) {
  Listener listener;
  EXPECT_TRUE(TcpConnectOnce("127.0.0.1", listener.port, milliseconds(1000)).ok);
}

TEST(TcpConnectProbe, SaysConnectionRefusedOnAClosedPort) {
  auto result = TcpConnectOnce("127.0.0.1", ClosedPort(), milliseconds(1000));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.reason, "Connection refused");
}

TEST(TcpConnectProbe, SaysWhenTheHostCannotBeResolved) {
  auto result = TcpConnectOnce("no-such-host.invalid", 80, milliseconds(1000));
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.reason.find("cannot resolve host"), std::string::npos) << result.reason;
}

class HttpGetProbe : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Get("/ok", [](const httplib::Request&, httplib::Response& response) {
      response.set_content("fine", "text/plain");
    });
    server_.Get("/busy", [](const httplib::Request&, httplib::Response& response) {
      response.status = 503;
    });
    port_ = static_cast<uint16_t>(server_.bind_to_any_port("127.0.0.1"));
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // httplib 0.11 has no wait_until_ready(); bounded wait for is_running().
    for (int i = 0; i < 2000 && !server_.is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  void TearDown() override {
    server_.stop();
    thread_.join();
  }
  httplib::Server server_;
  std::thread thread_;
  uint16_t port_ = 0;
};

TEST_F(HttpGetProbe, PassesOn2xx) {
  auto result = HttpGetOnce("127.0.0.1", port_, "/ok", 200, 299, milliseconds(1000));
  EXPECT_TRUE(result.ok) << result.reason;
}

TEST_F(HttpGetProbe, ReportsAStatusOutsideTheRange) {
  auto result = HttpGetOnce("127.0.0.1", port_, "/busy", 200, 299, milliseconds(1000));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.reason, "status 503");
  EXPECT_TRUE(HttpGetOnce("127.0.0.1", port_, "/busy", 500, 599, milliseconds(1000)).ok);
}

TEST(HttpGetProbeRaw, ReportsANonHttpAnswer) {
  Listener listener;
  std::thread peer([&] {
    int client = accept(listener.fd, nullptr, nullptr);
    const char greeting[] = "SSH-2.0-not-http\r\n";
    ssize_t ignored = write(client, greeting, sizeof greeting - 1);
    (void)ignored;
    close(client);
  });
  auto result = HttpGetOnce("127.0.0.1", listener.port, "/", 200, 299, milliseconds(1000));
  peer.join();
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.reason.find("not an HTTP response: SSH-2.0"), std::string::npos)
      << result.reason;
}

TEST(HttpGetProbeRaw, TimesOutOnAServerThatNeverAnswers) {
  Listener listener;  // accepted by the kernel, never read
  auto result = HttpGetOnce("127.0.0.1", listener.port, "/", 200, 299, milliseconds(50));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.reason, "no status line within 50 ms");
}

}  // namespace
