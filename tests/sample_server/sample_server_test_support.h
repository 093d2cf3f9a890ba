#pragma once

// What the sample_server suites share: how the server is started, clients
// with bounded waits, a raw TCP client for requests no HTTP library would
// send, and values that can tell when they were torn.

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "gtest_fork_env/fork_server_env.h"
#include "gtest_fork_env/options.h"
#include "sample_server/serve.h"
#include "support/http_reply.h"

namespace sample_server_test {

// Options for a sample server: ready once GET /healthz answers 200.
gtest_fork_env::Options ServerOptions(std::string name);

// Registers a ForkServerEnv that runs sample_server::Serve with
// Scope::kTest (a fresh clone for every test), for a static initializer of a
// test file; the environment belongs to GoogleTest. A relative data file is
// in the test's own data directory.
// `make_config` runs in the server process, when the tests run, so it may
// name files in TestDirectory (which a --gtest_list_tests run never makes).
gtest_fork_env::ForkServerEnv* AddSampleServer(std::string name,
                                               std::function<sample_server::Config()> make_config);

// A client of the server `env` runs now: keep-alive, TCP_NODELAY, paths sent
// as written (no percent-encoding added), and every wait bounded (connect
// 5 s, read and write 30 s).
std::unique_ptr<httplib::Client> MakeClient(const gtest_fork_env::ForkServerEnv& env);

// One HTTP response as read off the wire (shared with the request fuzzer).
using RawReply = test_support::HttpReply;
// A raw request for 127.0.0.1 (test_support::Request).
using test_support::Request;

// The suites' second server: the defaults but 1000-byte values, for the body
// limit tests whose requests must fit in one TCP segment.
inline constexpr size_t kSmallMaxValue = 1000;
// Registers it as "kv-small", for a static initializer of a test file.
gtest_fork_env::ForkServerEnv* AddSmallSampleServer();

// A TCP connection that sends bytes as they are, for malformed requests.
// Never raises SIGPIPE; every read is bounded by a deadline.
class RawConnection {
 public:
  RawConnection(const std::string& host, uint16_t port);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return fd_ >= 0; }
  // Sends all of `bytes`; false when the peer closed or reset.
  bool Send(std::string_view bytes);
  // Tells the server that nothing more comes (shutdown SHUT_WR).
  void FinishSending();
  // Reads one response with a Content-Length body. nullopt when the
  // connection ends or `timeout` passes before a whole response arrived.
  std::optional<RawReply> ReadReply(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Whether the server ends the connection (EOF or reset) within `timeout`,
  // with no further bytes.
  bool EndsWithin(std::chrono::milliseconds timeout);

 private:
  int fd_ = -1;
  std::string buffer_;  // received, not yet consumed
};

// Sends `request` on a fresh connection and reads one reply.
std::optional<RawReply> SendRaw(const gtest_fork_env::ForkServerEnv& env,
                                const std::string& request);

// Whether `body` is {"error": `code`, "detail": "<non-empty>"}.
::testing::AssertionResult IsJsonError(const std::string& body, const std::string& code);

// A value of `size` bytes (at least the header's) that carries `tag` and its
// own length, with filler derived from the tag: IsIntactValue sees if it was
// cut, extended or mixed with another value.
std::string MakeValue(const std::string& tag, size_t size);
bool IsIntactValue(std::string_view value);
// The tag of an intact value.
std::string TagOf(std::string_view value);

// A directory of this test process, made on first use and removed by the
// environment that CleanUpTestDirectory registers (kept when a test failed).
// A re-executed copy of the binary gets the same one through the environment
// variable SAMPLE_SERVER_TEST_DIR.
const std::string& TestDirectory();
void CleanUpTestDirectory();

// The whole file, or "" when it cannot be read.
std::string ReadFile(const std::string& path);

}  // namespace sample_server_test
