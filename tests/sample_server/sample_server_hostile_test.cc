// Hostile input to the sample server, over real loopback sockets: requests
// and clients that no well-behaved HTTP client sends. Each test checks what
// the server answers (a 4xx with the JSON error, or a closed connection,
// never a 5xx, a crash or a hang), and that it still serves others during
// and after. Every socket has a deadline, every wait is bounded, and all
// traffic goes to the test's own server on 127.0.0.1.
//
// Limits of cpp-httplib 0.11.4 that these tests do not hide (docs/fuzzing.md
// has the measurements): it bounds a request line or header line only after
// reading all of it, and neither the number of headers nor their total size,
// so one client can make the server buffer as much as it sends; a worker
// thread is held by a client for as long as it keeps sending a byte within
// every read timeout (5 s), so 16 such clients (--threads) hold them all;
// and pipelined requests that arrive together are not all answered.

#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gtest_fork_env/fork_server_env.h"
#include "sample_server/serve.h"
#include "sample_server_test_support.h"

namespace {

using sample_server_test::IsJsonError;
using sample_server_test::kSmallMaxValue;
using sample_server_test::Request;
using sample_server_test::MakeClient;
using sample_server_test::RawConnection;
using sample_server_test::RawReply;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

// A server with the defaults (1 MiB values, 16 threads, 5 s read timeout),
// and one with 1000-byte values for the body limits.
gtest_fork_env::ForkServerEnv* const server =
    sample_server_test::AddSampleServer("kv", [] { return sample_server::Config(); });
gtest_fork_env::ForkServerEnv* const small = sample_server_test::AddSmallSampleServer();

// What became of a request sent on a connection of its own.
struct Outcome {
  std::optional<RawReply> reply;  // a whole reply arrived
  bool ended = false;             // or else the server closed or reset the connection
  std::string shown() const {
    if (reply) return "status " + std::to_string(reply->status) + ", body " + reply->body;
    return ended ? "connection closed without a reply" : "no reply and still open (a hang)";
  }
};

// Sends `request` on a fresh connection and waits, at most `timeout`, for a
// reply or the end of the connection. A server that answers and closes
// before it read everything may reset the connection, and then the reply can
// be lost: that is "ended".
Outcome Send(const gtest_fork_env::ForkServerEnv& env, const std::string& request,
             milliseconds timeout = seconds(10)) {
  Outcome outcome;
  RawConnection connection(env.host(), env.port());
  if (!connection.connected()) return outcome;
  const auto deadline = Clock::now() + timeout;
  connection.Send(request);  // false when the server closed early: read what it said
  auto left = [&] {
    return std::max(milliseconds(1),
                    std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
  };
  outcome.reply = connection.ReadReply(left());
  if (!outcome.reply) outcome.ended = connection.EndsWithin(left());
  return outcome;
}

// Whether the server still answers GET /healthz on a new connection.
::testing::AssertionResult Healthy(const gtest_fork_env::ForkServerEnv& env) {
  auto client = MakeClient(env);
  client->set_read_timeout(5, 0);
  auto res = client->Get("/healthz");
  if (!res) return ::testing::AssertionFailure() << "GET /healthz failed: " << res.error();
  if (res->status != 200) {
    return ::testing::AssertionFailure() << "GET /healthz answered " << res->status;
  }
  return ::testing::AssertionSuccess();
}

// The number of entries of a /proc directory of the server, or -1.
int CountEntries(const std::string& path) {
  DIR* dir = opendir(path.c_str());
  if (!dir) return -1;
  int count = 0;
  while (dirent* entry = readdir(dir)) count += entry->d_name[0] != '.';
  closedir(dir);
  return count;
}
int OpenDescriptors(pid_t pid) { return CountEntries("/proc/" + std::to_string(pid) + "/fd"); }
int Threads(pid_t pid) { return CountEntries("/proc/" + std::to_string(pid) + "/task"); }

// A TCP connection made without blocking: the server's listen backlog is 5
// (httplib), and a connect that finds it full waits for a SYN retry (1 s) or
// more; the deadline bounds that. -1 when it did not connect in time.
int ConnectWithin(const gtest_fork_env::ForkServerEnv& env, milliseconds timeout) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(env.port());
  inet_pton(AF_INET, env.host().c_str(), &address.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    struct pollfd event = {fd, POLLOUT, 0};
    int error = 0;
    socklen_t size = sizeof error;
    if (errno != EINPROGRESS || poll(&event, 1, static_cast<int>(timeout.count())) != 1 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0 || error != 0) {
      close(fd);
      return -1;
    }
  }
  return fd;
}

// Closes with a reset instead of a FIN (SO_LINGER 0): a client that vanishes.
void Reset(int fd) {
  struct linger abort_on_close = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
  close(fd);
}

// --- Oversize request lines and headers ---------------------------------

TEST(SampleServerHostile, OversizeRequestLineIs414) {
  for (size_t size : {size_t{64} << 10, size_t{1} << 20}) {
    const std::string target = "/v1/kv/" + std::string(size, 'k');
    Outcome outcome = Send(*server, Request("GET", target));
    ASSERT_TRUE(outcome.reply) << size << " bytes: " << outcome.shown();
    EXPECT_EQ(outcome.reply->status, 414) << size;
    EXPECT_TRUE(IsJsonError(outcome.reply->body, "uri_too_long")) << size;
    EXPECT_EQ(outcome.reply->header("Connection"), "close") << size;
  }
  EXPECT_TRUE(Healthy(*server));
}

// httplib refuses a header line over 8 KiB once it has read it; the server
// closes with the rest unread, so the reply may be lost to a reset.
TEST(SampleServerHostile, OversizeHeaderIs400OrClosed) {
  for (size_t size : {size_t{64} << 10, size_t{1} << 20}) {
    Outcome outcome =
        Send(*server, Request("GET", "/healthz", "X-Big: " + std::string(size, 'h') + "\r\n"));
    if (outcome.reply) {
      EXPECT_EQ(outcome.reply->status, 400) << size;
      EXPECT_TRUE(IsJsonError(outcome.reply->body, "bad_request")) << size;
    } else {
      EXPECT_TRUE(outcome.ended) << size << " bytes: " << outcome.shown();
    }
  }
  EXPECT_TRUE(Healthy(*server));
}

// httplib 0.11.4 has no limit on the number of headers (upstream added one
// much later): 10,000 short headers are read and the request is served. What
// matters here: an answer, no crash, and the server fine afterwards.
TEST(SampleServerHostile, TenThousandHeadersAreAnsweredWithoutHarm) {
  std::string headers;
  for (int i = 0; i < 10000; ++i) headers += "X-H" + std::to_string(i) + ": v\r\n";
  for (const std::string& path : {std::string("/healthz"), std::string("/v1/kv/many")}) {
    const auto start = Clock::now();
    Outcome outcome = Send(*server, Request("GET", path, headers + "Connection: close\r\n"));
    ASSERT_TRUE(outcome.reply || outcome.ended) << path << ": " << outcome.shown();
    if (outcome.reply) {
      EXPECT_LT(outcome.reply->status, 500) << path;
      EXPECT_EQ(outcome.reply->status, path == "/healthz" ? 200 : 404) << path;
    }
    EXPECT_LT(Clock::now() - start, seconds(5)) << path;
  }
  EXPECT_TRUE(Healthy(*server));
}

// --- Bodies over the limit ------------------------------------------------

TEST(SampleServerHostile, ContentLengthOverTheLimitIs413) {
  auto client = MakeClient(*small);
  ASSERT_EQ(client->Put("/v1/kv/limited", "before", "text/plain")->status, 201);

  // Sent whole: httplib reads and drops it, and the connection stays usable.
  RawConnection connection(small->host(), small->port());
  ASSERT_TRUE(connection.Send(Request("PUT", "/v1/kv/limited", "Content-Length: 1001\r\n",
                                      std::string(kSmallMaxValue + 1, 'v'))));
  auto reply = connection.ReadReply();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 413);
  EXPECT_TRUE(IsJsonError(reply->body, "value_too_large"));
  ASSERT_TRUE(connection.Send(Request("GET", "/healthz")));
  auto next = connection.ReadReply();
  ASSERT_TRUE(next) << "the connection did not survive a refused body";
  EXPECT_EQ(next->status, 200);

  // 10 GiB announced, with Expect: 100-continue: refused before it is sent.
  const auto start = Clock::now();
  Outcome expect = Send(*small, Request("PUT", "/v1/kv/limited",
                                        "Content-Length: 10737418240\r\nExpect: 100-continue\r\n"));
  ASSERT_TRUE(expect.reply) << expect.shown();
  EXPECT_EQ(expect.reply->status, 413);
  EXPECT_TRUE(IsJsonError(expect.reply->body, "value_too_large"));
  EXPECT_LT(Clock::now() - start, seconds(1));

  // A length of more digits than any value has: malformed.
  Outcome digits = Send(
      *small, Request("PUT", "/v1/kv/limited", "Content-Length: 99999999999999999999\r\n", "vvv"));
  ASSERT_TRUE(digits.reply) << digits.shown();
  EXPECT_EQ(digits.reply->status, 400);
  EXPECT_TRUE(IsJsonError(digits.reply->body, "bad_request"));

  EXPECT_EQ(client->Get("/v1/kv/limited")->body, "before");
}

// 10 GiB announced without Expect and only 2000 bytes sent: httplib reads
// (and drops) what comes until the read timeout, 5 s, then answers 413.
TEST(SampleServerHostile, HugeContentLengthThatNeverArrivesIs413AfterTheReadTimeout) {
  const auto start = Clock::now();
  Outcome outcome =
      Send(*small,
           Request("PUT", "/v1/kv/huge", "Content-Length: 10737418240\r\n", std::string(2000, 'v')),
           seconds(15));
  ASSERT_TRUE(outcome.reply || outcome.ended) << outcome.shown();
  if (outcome.reply) {
    EXPECT_EQ(outcome.reply->status, 413);
    EXPECT_TRUE(IsJsonError(outcome.reply->body, "value_too_large"));
  }
  EXPECT_LT(Clock::now() - start, seconds(10));
  EXPECT_EQ(MakeClient(*small)->Get("/v1/kv/huge")->status, 404);
}

TEST(SampleServerHostile, ChunkedBodyOverTheLimitIs413) {
  auto client = MakeClient(*small);
  ASSERT_EQ(client->Put("/v1/kv/chunks", "before", "text/plain")->status, 201);
  std::string hundred_and_one_chunks;  // 10 bytes each: 1010 in all
  for (int i = 0; i < 101; ++i) hundred_and_one_chunks += "a\r\n0123456789\r\n";
  struct Case {
    const char* what;
    std::string body;
    int status;
    const char* error;
  };
  const std::vector<Case> cases = {
      {"one chunk of 1 MiB, 2000 bytes of it sent", "100000\r\n" + std::string(2000, 'v'), 413,
       "value_too_large"},
      {"101 chunks of 10 bytes", hundred_and_one_chunks + "0\r\n\r\n", 413, "value_too_large"},
      {"a chunk of 2^60 bytes", "fffffffffffffff\r\n" + std::string(2000, 'v'), 413,
       "value_too_large"},
      // strtoul's overflow value: httplib takes it for a malformed size.
      {"a chunk size past 2^64", "fffffffffffffffffffff\r\nvvv", 400, "bad_request"},
  };
  for (const Case& c : cases) {
    Outcome outcome =
        Send(*small, Request("PUT", "/v1/kv/chunks", "Transfer-Encoding: chunked\r\n", c.body));
    ASSERT_TRUE(outcome.reply) << c.what << ": " << outcome.shown();
    EXPECT_EQ(outcome.reply->status, c.status) << c.what;
    EXPECT_TRUE(IsJsonError(outcome.reply->body, c.error)) << c.what;
    EXPECT_EQ(outcome.reply->header("Connection"), "close") << c.what;
  }
  EXPECT_EQ(client->Get("/v1/kv/chunks")->body, "before");
  EXPECT_TRUE(Healthy(*small));
}

// --- Invalid UTF-8 and NUL bytes --------------------------------------------

TEST(SampleServerHostile, InvalidUtf8AndNulInKeysAre400WithTheJsonError) {
  auto client = MakeClient(*server);
  const size_t stored_before = nlohmann::json::parse(client->Get("/v1/kv")->body).size();
  struct Case {
    std::string key;  // as it goes on the wire
    const char* error;
  };
  const std::vector<Case> cases = {
      {"%00", "bad_key"},
      {"a%00b", "bad_key"},
      {"%FF", "bad_key"},
      {"%C3%28", "bad_key"},        // invalid UTF-8 sequence
      {"%C0%AF", "bad_key"},        // overlong "/"
      {"%ED%A0%80", "bad_key"},     // UTF-16 surrogate
      {"%F4%90%80%80", "bad_key"},  // past U+10FFFF
      {"caf%C3%A9", "bad_key"},     // valid UTF-8, but not a key character
      {"a%0D%0AX-Injected:%20yes", "bad_key"},
      {"\xff\xfe", "bad_key"},  // raw bytes
      {"\xc3\x28", "bad_key"},
      {"\x80", "bad_key"},
      {"a\tb", "bad_key"},
      // A raw NUL ends httplib's request line (it parses a C string), so the
      // line has no version: malformed.
      {std::string("a\0b", 3), "bad_request"},
      {std::string("\0", 1), "bad_request"},
  };
  for (const Case& c : cases) {
    for (const char* method : {"GET", "PUT", "DELETE"}) {
      const bool put = std::string(method) == "PUT";
      Outcome outcome = Send(*server, Request(method, "/v1/kv/" + c.key,
                                              put ? "Content-Length: 1\r\n" : "", put ? "x" : ""));
      const std::string shown = std::string(method) + " key #" + std::to_string(&c - &cases[0]);
      ASSERT_TRUE(outcome.reply) << shown << ": " << outcome.shown();
      EXPECT_EQ(outcome.reply->status, 400) << shown;
      EXPECT_EQ(outcome.reply->header("Content-Type"), "application/json") << shown;
      EXPECT_TRUE(IsJsonError(outcome.reply->body, c.error)) << shown;
    }
  }
  // The listing's prefix: the same characters as a key.
  for (const std::string& prefix :
       {std::string("a%00"), std::string("a\xff"), std::string("%C3%28"), std::string("%C0%AF")}) {
    Outcome outcome = Send(*server, Request("GET", "/v1/kv?prefix=" + prefix));
    ASSERT_TRUE(outcome.reply) << outcome.shown();
    EXPECT_EQ(outcome.reply->status, 400);
    EXPECT_TRUE(IsJsonError(outcome.reply->body, "bad_query"));
  }
  EXPECT_EQ(nlohmann::json::parse(client->Get("/v1/kv")->body).size(), stored_before)
      << "a request with a bad key stored something";

  // No client byte reaches the log unescaped: it stays printable ASCII.
  std::this_thread::sleep_for(milliseconds(100));  // the last access line follows its reply
  const std::string log = sample_server_test::ReadFile(server->log_path());
  size_t line = 1;
  for (unsigned char c : log) {
    if (c == '\n') ++line;
    ASSERT_TRUE((c >= 0x20 && c < 0x7F) || c == '\n')
        << "byte " << static_cast<int>(c) << " on line " << line << " of the server log";
  }
}

// A NUL in a header is refused: httplib keeps it in the header but hands
// the value to the service cut at the NUL, so "Content-Length: 1\0 99" passed
// for 1 (RFC 9110: reject such a field, or replace the NUL).
TEST(SampleServerHostile, NulInHeadersIs400) {
  const std::string nul(1, '\0');
  const std::vector<std::string> requests = {
      Request("PUT", "/v1/kv/nul", "Content-Length: 1" + nul + " 99\r\n", "x"),
      Request("PUT", "/v1/kv/nul", "Content-Length: 1" + nul + "\r\n", "x"),
      Request("PUT", "/v1/kv/nul", "Transfer-Encoding: chunked" + nul + "gzip\r\n",
              "1\r\nx\r\n0\r\n\r\n"),
      Request("PUT", "/v1/kv/nul", "Content-Length: 1\r\nContent-Encoding: identity" + nul + "\r\n",
              "x"),
      "GET /healthz HTTP/1.1\r\nHost: a" + nul + "b\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nHost: a\r\nX-Na" + nul + "me: v\r\n\r\n",
  };
  for (const std::string& request : requests) {
    Outcome outcome = Send(*server, request);
    ASSERT_TRUE(outcome.reply) << outcome.shown();
    EXPECT_EQ(outcome.reply->status, 400);
    EXPECT_TRUE(IsJsonError(outcome.reply->body, "bad_request"));
    EXPECT_EQ(outcome.reply->header("Connection"), "close");
  }
  EXPECT_EQ(MakeClient(*server)->Get("/v1/kv/nul")->status, 404) << "a value was stored";
}

// A Range header is ignored: the whole value, and errors stay whole JSON.
// (httplib 0.11 applied it to every reply: a 404 body cut to "det".)
TEST(SampleServerHostile, RangeHeadersAreIgnored) {
  auto client = MakeClient(*server);
  ASSERT_EQ(client->Put("/v1/kv/ranged", "0123456789", "text/plain")->status, 201);
  for (const char* range : {"bytes=2-4", "bytes=100-200", "bytes=0-1,4-5", "bytes=-3"}) {
    const std::string header = std::string("Range: ") + range + "\r\n";
    Outcome value = Send(*server, Request("GET", "/v1/kv/ranged", header));
    ASSERT_TRUE(value.reply) << range << ": " << value.shown();
    EXPECT_EQ(value.reply->status, 200) << range;
    EXPECT_EQ(value.reply->body, "0123456789") << range;
    EXPECT_EQ(value.reply->header("Content-Range"), "") << range;
    for (const char* path : {"/v1/kv/missing", "/v1/kv/a%2Fb", "/nowhere"}) {
      Outcome error = Send(*server, Request("GET", path, header));
      ASSERT_TRUE(error.reply) << range << " " << path << ": " << error.shown();
      EXPECT_GE(error.reply->status, 400) << range << " " << path;
      EXPECT_EQ(error.reply->header("Content-Type"), "application/json") << range << " " << path;
      EXPECT_TRUE(
          IsJsonError(error.reply->body, error.reply->status == 404 ? "not_found" : "bad_key"))
          << range << " " << path;
    }
  }
  // A Range header httplib cannot parse is refused before the service sees
  // it, with a JSON 416.
  Outcome malformed = Send(*server, Request("GET", "/v1/kv/ranged", "Range: bytes=x\r\n"));
  ASSERT_TRUE(malformed.reply) << malformed.shown();
  EXPECT_EQ(malformed.reply->status, 416);
  EXPECT_TRUE(IsJsonError(malformed.reply->body, "error"));
}

// --- Slow clients -------------------------------------------------------------

// Three clients trickle requests at one byte a second (slowloris) for 5 s;
// a normal client's requests meanwhile are each answered within 1 s. One
// trickler completes its request and is answered; the two that stop
// mid-request are dropped by the server's read timeout (5 s).
TEST(SampleServerHostile, SlowClientsDoNotHoldUpOthers) {
  constexpr auto kTrickle = seconds(5);
  const std::string complete = "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";
  std::atomic<int> slow_answered{0};
  std::atomic<int> slow_dropped{0};
  std::vector<std::thread> slow;
  for (int i = 0; i < 3; ++i) {
    slow.emplace_back([&, i] {
      RawConnection connection(server->host(), server->port());
      if (!connection.connected()) return;
      // Client 0 sends all but the last 5 bytes at once, then one a second:
      // slow, but within the read timeout each time, so it is served. The
      // others send the start of a request a byte a second, then go quiet.
      const std::string text = i == 0 ? complete : "GET /healthz HTTP/1.1\r\nHost: a\r\n";
      size_t sent = i == 0 ? text.size() - 5 : 0;
      if (sent > 0 && !connection.Send(text.substr(0, sent))) return;
      const auto stop = Clock::now() + kTrickle;
      while (Clock::now() < stop && sent < text.size()) {
        if (!connection.Send(text.substr(sent++, 1))) return;
        std::this_thread::sleep_for(seconds(1));
      }
      if (i == 0) {
        auto reply = connection.ReadReply(seconds(3));
        if (reply && reply->status == 200) ++slow_answered;
      } else if (connection.EndsWithin(seconds(9))) {  // read timeout 5 s, and some slack
        ++slow_dropped;
      }
    });
  }

  auto client = MakeClient(*server);
  client->set_read_timeout(2, 0);
  int requests = 0;
  milliseconds slowest{0};
  const auto stop = Clock::now() + kTrickle;
  while (Clock::now() < stop) {
    const std::string key = "/v1/kv/busy" + std::to_string(requests % 10);
    const auto start = Clock::now();
    auto put = client->Put(key, "value", "text/plain");
    auto got = client->Get(key);
    auto fresh = MakeClient(*server)->Get("/healthz");  // a new connection each time too
    const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
    if (!put || !got || !fresh) {  // no ASSERT: the slow clients' threads must be joined
      ADD_FAILURE() << "a request failed while slow clients were connected";
      break;
    }
    EXPECT_LT(put->status, 300);
    EXPECT_EQ(got->body, "value");
    EXPECT_EQ(fresh->status, 200);
    EXPECT_LT(took, seconds(1)) << "3 requests took " << took.count() << " ms";
    slowest = std::max(slowest, took);
    requests += 3;
    std::this_thread::sleep_for(milliseconds(50));
  }
  for (std::thread& thread : slow) thread.join();
  EXPECT_GE(requests, 30);
  EXPECT_EQ(slow_answered, 1) << "the slow but complete request was not answered";
  EXPECT_EQ(slow_dropped, 2) << "a stalled slow client was not dropped by the read timeout";
  std::printf("%d requests answered while 3 clients trickled; slowest 3 took %lld ms\n", requests,
              static_cast<long long>(slowest.count()));
  EXPECT_TRUE(Healthy(*server));
}

// A client that sends two requests in one go. httplib 0.11.4 reads ahead and
// then waits on the socket for the second, which is already in its buffer:
// the second is not answered and the connection ends after the keep-alive
// timeout (1 s). What is checked: the first is answered, and the connection
// never hangs open; a second reply, when a fixed httplib sends it, is fine.
TEST(SampleServerHostile, PipelinedRequestsAreAnsweredOrTheConnectionEnds) {
  RawConnection connection(server->host(), server->port());
  ASSERT_TRUE(connection.Send(Request("GET", "/healthz") + Request("GET", "/healthz")));
  auto first = connection.ReadReply(seconds(5));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  const auto start = Clock::now();
  auto second = connection.ReadReply(seconds(5));
  if (second) {
    EXPECT_EQ(second->status, 200);
  } else {
    EXPECT_LT(Clock::now() - start, seconds(4)) << "the connection hung open";
  }
  EXPECT_TRUE(Healthy(*server));
}

// --- Connection churn -----------------------------------------------------

// 3,000 connections opened and dropped: a quarter each with a partial request
// or nothing, closed (FIN) or reset (RST). Afterwards the server answers, and
// its threads and descriptors are back where they were.
//
// One connection a millisecond: httplib listens with a backlog of 5, and a
// client faster than its accept thread gets its SYNs dropped and retried a
// second later (unpaced, from 8 threads, 678 of 3,000 connects waited so, and
// the churn took 100 s on a loaded 2-core machine; paced, none, in 4 s).
// What is tested here is what the connections leave behind, not the rate.
//
// Tolerance: none, after a bounded settle. The server's threads are the
// accept loop, the stop-signal watcher and at most Config::threads (16)
// workers, made as connections find none idle and kept: a thread count
// above that is a thread leaked. Every descriptor the server opens
// for a connection is closed once a worker saw it end; the test waits up to
// 10 s for the workers to get through the queue, and then the count must be
// what it was before, the baseline taken with no connection of ours open.
TEST(SampleServerHostile, ThousandsOfDroppedConnectionsLeaveNoThreadsOrDescriptors) {
  const pid_t pid = server->pid();
  ASSERT_GT(pid, 0);
  // Let the readiness probe's connection close (keep-alive timeout 1 s).
  int baseline_fds = OpenDescriptors(pid);
  for (auto until = Clock::now() + seconds(3); Clock::now() < until;) {
    std::this_thread::sleep_for(milliseconds(100));
    baseline_fds = std::min(baseline_fds, OpenDescriptors(pid));
  }
  const int baseline_threads = Threads(pid);
  ASSERT_GT(baseline_fds, 0);
  ASSERT_GT(baseline_threads, 0);

  constexpr int kConnections = 3000;
  int failed = 0;
  const auto start = Clock::now();
  for (int i = 0; i < kConnections; ++i) {
    const int fd = ConnectWithin(*server, seconds(3));
    if (fd < 0) {
      ++failed;
      continue;
    }
    if (i % 2 == 0) {
      static const char kPartial[] = "PUT /v1/kv/churn HTTP/1.1\r\nHost: a\r\nContent-Le";
      (void)!send(fd, kPartial, sizeof kPartial - 1, MSG_NOSIGNAL);
    }
    if (i % 4 < 2) {
      close(fd);
    } else {
      Reset(fd);
    }
    std::this_thread::sleep_for(milliseconds(1));
  }
  const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  EXPECT_EQ(failed, 0) << "connections that did not connect within 3 s";
  EXPECT_TRUE(Healthy(*server));

  int fds = OpenDescriptors(pid);
  for (auto until = Clock::now() + seconds(10); fds > baseline_fds && Clock::now() < until;) {
    std::this_thread::sleep_for(milliseconds(100));
    fds = OpenDescriptors(pid);
  }
  const int threads = Threads(pid);
  std::printf("%d connections in %lld ms; descriptors %d -> %d, threads %d -> %d\n", kConnections,
              static_cast<long long>(took.count()), baseline_fds, fds, baseline_threads, threads);
  EXPECT_LE(fds, baseline_fds) << "descriptors left open after the churn";
  const int most_threads = 2 + static_cast<int>(sample_server::Config().threads);
  EXPECT_LE(threads, most_threads) << "more threads than the accept loop, the watcher and the "
                                      "workers' maximum";
  EXPECT_EQ(MakeClient(*server)->Get("/v1/kv/churn")->status, 404);
}

}  // namespace
