#include "sample_server_test_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>

namespace sample_server_test {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

gtest_fork_env::Options ServerOptions(std::string name) {
  gtest_fork_env::Options options;
  options.name = std::move(name);
  options.probe = gtest_fork_env::Probe::HttpGet("/healthz");
  return options;
}

gtest_fork_env::ForkServerEnv* AddSampleServer(std::string name,
                                               std::function<sample_server::Config()> make_config) {
  gtest_fork_env::Options options = ServerOptions(std::move(name));
  // A fresh server for every test, cloned from one warm template: the
  // binaries run one suite per process (BATCH SUITE), and no test sees what
  // another left behind, in memory or in its data file.
  options.scope = gtest_fork_env::Scope::kTest;
  auto* env = new gtest_fork_env::ForkServerEnv(
      [make_config](gtest_fork_env::ServerContext& context) {
        return sample_server::Serve(context, make_config());
      },
      options);
  ::testing::AddGlobalTestEnvironment(env);
  return env;
}

gtest_fork_env::ForkServerEnv* AddSmallSampleServer() {
  return AddSampleServer("kv-small", [] {
    sample_server::Config config;
    config.max_value_bytes = kSmallMaxValue;
    return config;
  });
}

std::unique_ptr<httplib::Client> MakeClient(const gtest_fork_env::ForkServerEnv& env) {
  auto client = std::make_unique<httplib::Client>(env.host(), env.port());
  client->set_keep_alive(true);
  client->set_url_encode(false);  // paths go out exactly as the tests write them
  client->set_tcp_nodelay(true);
  client->set_connection_timeout(5, 0);
  client->set_read_timeout(30, 0);
  client->set_write_timeout(30, 0);
  return client;
}

RawConnection::RawConnection(const std::string& host, uint16_t port) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  // Loopback connects at once or fails at once: no timeout needed.
  if (inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1 ||
      connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd_);
    fd_ = -1;
    return;
  }
  int yes = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) close(fd_);
}

bool RawConnection::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    struct pollfd event = {fd_, POLLOUT, 0};
    if (poll(&event, 1, 10000) <= 0) return false;
    ssize_t sent = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(sent));
  }
  return true;
}

void RawConnection::FinishSending() { shutdown(fd_, SHUT_WR); }

std::optional<RawReply> RawConnection::ReadReply(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  // Reads more into buffer_; false at the end of the connection or deadline.
  auto read_more = [&] {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    struct pollfd event = {fd_, POLLIN, 0};
    if (left <= 0 || poll(&event, 1, static_cast<int>(left)) <= 0) return false;
    char chunk[65536];
    ssize_t got = recv(fd_, chunk, sizeof chunk, 0);
    if (got <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(got));
    return true;
  };
  size_t header_end;
  while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (!read_more()) return std::nullopt;
  }
  std::optional<RawReply> parsed = test_support::ParseReplyHead(
      std::string_view(buffer_).substr(0, header_end + 2));
  if (!parsed) return std::nullopt;
  RawReply reply = std::move(*parsed);
  auto length = reply.headers.find("Content-Length");
  const size_t body_size =
      length == reply.headers.end() ? 0 : std::strtoull(length->second.c_str(), nullptr, 10);
  while (buffer_.size() < header_end + 4 + body_size) {
    if (!read_more()) return std::nullopt;
  }
  reply.body = buffer_.substr(header_end + 4, body_size);
  buffer_.erase(0, header_end + 4 + body_size);
  return reply;
}

bool RawConnection::EndsWithin(milliseconds timeout) {
  struct pollfd event = {fd_, POLLIN, 0};
  if (!buffer_.empty() || poll(&event, 1, static_cast<int>(timeout.count())) <= 0) return false;
  char byte;
  return recv(fd_, &byte, 1, 0) <= 0;
}

std::optional<RawReply> SendRaw(const gtest_fork_env::ForkServerEnv& env,
                                const std::string& request) {
  RawConnection connection(env.host(), env.port());
  if (!connection.connected() || !connection.Send(request)) return std::nullopt;
  return connection.ReadReply();
}

::testing::AssertionResult IsJsonError(const std::string& body, const std::string& code) {
  nlohmann::json json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || json.size() != 2 || !json.contains("error") ||
      !json.contains("detail")) {
    return ::testing::AssertionFailure() << "not an error body: " << body;
  }
  if (json["error"] != code) {
    return ::testing::AssertionFailure()
           << "error is " << json["error"] << ", not \"" << code << "\": " << body;
  }
  if (!json["detail"].is_string() || json["detail"].get<std::string>().empty()) {
    return ::testing::AssertionFailure() << "no detail: " << body;
  }
  return ::testing::AssertionSuccess();
}

namespace {

uint32_t Fnv1a(std::string_view text) {
  uint32_t hash = 2166136261u;
  for (unsigned char c : text) hash = (hash ^ c) * 16777619u;
  return hash;
}

std::string Filler(std::string_view tag, size_t size) {
  std::minstd_rand random(Fnv1a(tag));
  std::string filler(size, '\0');
  for (char& c : filler) c = static_cast<char>('a' + random() % 26);
  return filler;
}

}  // namespace

// "<tag>:<size, 10 digits>:" then filler.
std::string MakeValue(const std::string& tag, size_t size) {
  size = std::max(size, tag.size() + 12);
  char header_size[16];
  std::snprintf(header_size, sizeof header_size, "%010zu", size);
  std::string header = tag + ":" + header_size + ":";
  return header + Filler(tag, size - header.size());
}

std::string TagOf(std::string_view value) { return std::string(value.substr(0, value.find(':'))); }

bool IsIntactValue(std::string_view value) {
  const size_t colon = value.find(':');
  if (colon == std::string_view::npos || value.size() < colon + 12 || value[colon + 11] != ':') {
    return false;
  }
  const std::string size_text(value.substr(colon + 1, 10));
  if (size_text.find_first_not_of("0123456789") != std::string::npos ||
      std::strtoull(size_text.c_str(), nullptr, 10) != value.size()) {
    return false;
  }
  return value.substr(colon + 12) == Filler(value.substr(0, colon), value.size() - colon - 12);
}

namespace {

constexpr const char* kDirectoryVariable = "SAMPLE_SERVER_TEST_DIR";

class TestDirectoryCleanup : public ::testing::Environment {
 public:
  void SetUp() override { TestDirectory(); }
  void TearDown() override {
    std::error_code error;
    if (::testing::UnitTest::GetInstance()->Passed()) {
      std::filesystem::remove_all(TestDirectory(), error);
    } else {
      std::fprintf(stderr, "sample_server_test: data files kept in %s\n", TestDirectory().c_str());
    }
  }
};

}  // namespace

const std::string& TestDirectory() {
  static const std::string directory = [] {
    if (const char* inherited = std::getenv(kDirectoryVariable)) return std::string(inherited);
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/sample_server_test.XXXXXX";
    if (!mkdtemp(pattern.data())) {
      std::perror("sample_server_test: mkdtemp");
      std::abort();
    }
    setenv(kDirectoryVariable, pattern.c_str(), 1);
    return pattern;
  }();
  return directory;
}

void CleanUpTestDirectory() { ::testing::AddGlobalTestEnvironment(new TestDirectoryCleanup); }

std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

}  // namespace sample_server_test
