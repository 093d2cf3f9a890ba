// The sample server's HTTP API, tested only over HTTP, as a client sees it:
// every endpoint, and every error a client can provoke.

#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <random>
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
using sample_server_test::SendRaw;
using Json = nlohmann::json;

// Runs in the server process, after the fork: everything the service needs
// (logger, store, threads) is made in there.
int ServeKv(gtest_fork_env::ServerContext& context) {
  return sample_server::Serve(context, sample_server::Config());
}

gtest_fork_env::Options KvOptions() {
  gtest_fork_env::Options options;
  options.name = "kv";  // in every message and in the log file's name
  options.probe = gtest_fork_env::Probe::HttpGet("/healthz");  // ready once it answers 2xx
  return options;
}

// The server of this binary: GoogleTest sets it up before the first test
// (fork, wait for the probe) and tears it down after the last (SIGTERM).
// gtest_discover_tests runs every test in a process of its own, so under
// ctest each test gets a fresh server, on a port of its own.
gtest_fork_env::ForkServerEnv* const server = static_cast<gtest_fork_env::ForkServerEnv*>(
    ::testing::AddGlobalTestEnvironment(new gtest_fork_env::ForkServerEnv(ServeKv, KvOptions())));

// A second server, with a 1000-byte value limit, for the limit tests whose
// requests must fit in one TCP segment. AddSampleServer does what the lines
// above do.
const size_t kMaxValue = sample_server::Config().max_value_bytes;
gtest_fork_env::ForkServerEnv* const small = sample_server_test::AddSmallSampleServer();

TEST(SampleServerApi, HealthzAnswersOk) {
  auto client = MakeClient(*server);
  auto res = client->Get("/healthz");
  ASSERT_TRUE(res) << res.error();
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "ok");
}

TEST(SampleServerApi, PutCreatesThenReplaces) {
  auto client = MakeClient(*server);
  auto created = client->Put("/v1/kv/color", "red", "text/plain");
  ASSERT_TRUE(created) << created.error();
  EXPECT_EQ(created->status, 201);
  EXPECT_EQ(created->get_header_value("Location"), "/v1/kv/color");

  auto replaced = client->Put("/v1/kv/color", "blue", "text/plain");
  ASSERT_TRUE(replaced) << replaced.error();
  EXPECT_EQ(replaced->status, 200);
  EXPECT_FALSE(replaced->has_header("Location"));

  auto got = client->Get("/v1/kv/color");
  ASSERT_TRUE(got) << got.error();
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(got->body, "blue");
  EXPECT_EQ(got->get_header_value("Content-Type"), "application/octet-stream");
}

TEST(SampleServerApi, GetReturnsTheExactBytes) {
  std::string value;
  for (int round = 0; round < 4; ++round) {
    for (int byte = 0; byte < 256; ++byte) value += static_cast<char>(byte);
  }
  value += "\r\n\r\nGET / HTTP/1.1\r\n\r\n";  // request-like bytes are just bytes
  auto client = MakeClient(*server);
  auto put = client->Put("/v1/kv/binary", value, "application/octet-stream");
  ASSERT_TRUE(put) << put.error();
  ASSERT_EQ(put->status, 201);
  auto got = client->Get("/v1/kv/binary");
  ASSERT_TRUE(got) << got.error();
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(got->body, value);
}

TEST(SampleServerApi, EmptyValueIsAValue) {
  auto client = MakeClient(*server);
  auto put = client->Put("/v1/kv/empty", "", "application/octet-stream");
  ASSERT_TRUE(put) << put.error();
  EXPECT_EQ(put->status, 201);
  auto got = client->Get("/v1/kv/empty");
  ASSERT_TRUE(got) << got.error();
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(got->body, "");
  EXPECT_EQ(got->get_header_value("Content-Length"), "0");
}

TEST(SampleServerApi, HeadGivesTheSizeWithoutTheValue) {
  auto client = MakeClient(*server);
  ASSERT_EQ(client->Put("/v1/kv/head", std::string(1234, 'h'), "text/plain")->status, 201);
  auto head = client->Head("/v1/kv/head");
  ASSERT_TRUE(head) << head.error();
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->get_header_value("Content-Length"), "1234");
  EXPECT_EQ(head->body, "");
  auto missing = client->Head("/v1/kv/no-such-key");
  ASSERT_TRUE(missing) << missing.error();
  EXPECT_EQ(missing->status, 404);
}

TEST(SampleServerApi, DeleteRemovesTheKey) {
  auto client = MakeClient(*server);
  ASSERT_EQ(client->Put("/v1/kv/doomed", "x", "text/plain")->status, 201);
  auto deleted = client->Delete("/v1/kv/doomed");
  ASSERT_TRUE(deleted) << deleted.error();
  EXPECT_EQ(deleted->status, 204);
  EXPECT_EQ(deleted->body, "");

  auto got = client->Get("/v1/kv/doomed");
  ASSERT_TRUE(got) << got.error();
  EXPECT_EQ(got->status, 404);
  EXPECT_TRUE(IsJsonError(got->body, "not_found"));

  auto again = client->Delete("/v1/kv/doomed");
  ASSERT_TRUE(again) << again.error();
  EXPECT_EQ(again->status, 404);
  EXPECT_TRUE(IsJsonError(again->body, "not_found"));

  // Gone for good: a new PUT creates it again.
  EXPECT_EQ(client->Put("/v1/kv/doomed", "y", "text/plain")->status, 201);
}

TEST(SampleServerApi, UnknownKeyIs404WithAJsonError) {
  auto client = MakeClient(*server);
  auto got = client->Get("/v1/kv/never-written");
  ASSERT_TRUE(got) << got.error();
  EXPECT_EQ(got->status, 404);
  EXPECT_EQ(got->get_header_value("Content-Type"), "application/json");
  EXPECT_TRUE(IsJsonError(got->body, "not_found"));
}

TEST(SampleServerApi, ListReturnsKeysInByteOrder) {
  auto client = MakeClient(*server);
  for (const char* key : {"list.b", "list.a", "list.c", "list.aa", "list-", "lisu"}) {
    ASSERT_EQ(client->Put(std::string("/v1/kv/") + key, key, "text/plain")->status, 201) << key;
  }
  auto all = client->Get("/v1/kv?prefix=list.");
  ASSERT_TRUE(all) << all.error();
  EXPECT_EQ(all->status, 200);
  EXPECT_EQ(all->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(Json::parse(all->body), Json({"list.a", "list.aa", "list.b", "list.c"}));

  auto two = client->Get("/v1/kv?prefix=list.&limit=2");
  ASSERT_TRUE(two) << two.error();
  EXPECT_EQ(Json::parse(two->body), Json({"list.a", "list.aa"}));

  auto none = client->Get("/v1/kv?prefix=nothing-here");
  ASSERT_TRUE(none) << none.error();
  EXPECT_EQ(none->status, 200);
  EXPECT_EQ(Json::parse(none->body), Json::array());

  // No parameters: everything, sorted.
  auto everything = client->Get("/v1/kv");
  ASSERT_TRUE(everything) << everything.error();
  Json keys = Json::parse(everything->body);
  ASSERT_TRUE(keys.is_array());
  std::vector<std::string> listed = keys.get<std::vector<std::string>>();
  EXPECT_TRUE(std::is_sorted(listed.begin(), listed.end()));
  for (const char* key : {"list-", "list.a", "list.c", "lisu"}) {
    EXPECT_NE(std::find(listed.begin(), listed.end(), key), listed.end()) << key;
  }

  ASSERT_EQ(client->Delete("/v1/kv/list.aa")->status, 204);
  EXPECT_EQ(Json::parse(client->Get("/v1/kv?prefix=list.")->body),
            Json({"list.a", "list.b", "list.c"}));
}

TEST(SampleServerApi, ListRejectsBadQueryValues) {
  auto client = MakeClient(*server);
  const std::string long_prefix(257, 'p');
  for (const std::string& query : std::vector<std::string>{
           "limit=abc", "limit=0", "limit=-1", "limit=10001", "limit=1.5", "limit=", "limit=+1",
           "limit=99999999999999999999", "prefix=a%2Fb", "prefix=a+b", "prefix=%C3%A9",
           "prefix=" + long_prefix, "colour=red", "limit=1&limit=2", "prefix=a&prefix=b"}) {
    auto res = client->Get("/v1/kv?" + query);
    ASSERT_TRUE(res) << query << ": " << res.error();
    EXPECT_EQ(res->status, 400) << query;
    EXPECT_TRUE(IsJsonError(res->body, "bad_query")) << query;
  }
  auto at_limit = client->Get("/v1/kv?limit=10000");
  ASSERT_TRUE(at_limit) << at_limit.error();
  EXPECT_EQ(at_limit->status, 200);
}

TEST(SampleServerApi, KeysAreOneTo256BytesOfUnreservedCharacters) {
  auto client = MakeClient(*server);
  const std::string longest(256, 'k');
  EXPECT_EQ(client->Put("/v1/kv/" + longest, "long", "text/plain")->status, 201);
  EXPECT_EQ(client->Get("/v1/kv/" + longest)->body, "long");
  EXPECT_EQ(client->Put("/v1/kv/AZaz09._~-", "all", "text/plain")->status, 201);
  EXPECT_EQ(client->Get("/v1/kv/AZaz09._~-")->body, "all");

  const size_t stored_before = Json::parse(client->Get("/v1/kv")->body).size();
  const std::string too_long(257, 'k');
  for (const std::string& key :
       {too_long, std::string(), std::string("a%20b"), std::string("a%2Fb"), std::string("a/b"),
        std::string("%C3%A9"), std::string("a%00b"), std::string("%0A"), std::string("a:b"),
        std::string("a%25"), std::string("*")}) {
    const std::string path = "/v1/kv/" + key;
    auto put = client->Put(path, "value", "text/plain");
    ASSERT_TRUE(put) << key << ": " << put.error();
    EXPECT_EQ(put->status, 400) << key;
    EXPECT_TRUE(IsJsonError(put->body, "bad_key")) << key;
    auto got = client->Get(path);
    ASSERT_TRUE(got) << key << ": " << got.error();
    EXPECT_EQ(got->status, 400) << key;
    EXPECT_TRUE(IsJsonError(got->body, "bad_key")) << key;
    auto deleted = client->Delete(path);
    ASSERT_TRUE(deleted) << key << ": " << deleted.error();
    EXPECT_EQ(deleted->status, 400) << key;
    EXPECT_TRUE(IsJsonError(deleted->body, "bad_key")) << key;
  }
  EXPECT_EQ(Json::parse(client->Get("/v1/kv")->body).size(), stored_before)
      << "a PUT with a bad key stored something";
}

// "." and ".." are sent raw: curl, browsers and httplib's URL handling remove
// dot segments, so no client that follows RFC 3986 could address them again.
TEST(SampleServerApi, DotSegmentKeysAre400) {
  for (const std::string key : {".", ".."}) {
    for (const std::string method : {"PUT", "GET", "DELETE"}) {
      const std::string body = method == "PUT" ? "value" : "";
      auto reply = SendRaw(*server, Request(method, "/v1/kv/" + key,
                                            "Content-Length: " + std::to_string(body.size()) +
                                                "\r\nConnection: close\r\n",
                                            body));
      ASSERT_TRUE(reply) << method << " " << key << ": no reply";
      EXPECT_EQ(reply->status, 400) << method << " " << key;
      EXPECT_TRUE(IsJsonError(reply->body, "bad_key")) << method << " " << key;
    }
  }
  auto client = MakeClient(*server);
  EXPECT_EQ(client->Put("/v1/kv/..a", "dots", "text/plain")->status, 201)
      << "only the whole key \"..\" is a dot segment";
  EXPECT_EQ(client->Get("/v1/kv/..a")->body, "dots");
}

TEST(SampleServerApi, ValueAtTheLimitIsStoredAndOneByteMoreIs413) {
  auto client = MakeClient(*server);
  const std::string largest = sample_server_test::MakeValue("largest", kMaxValue);
  auto put = client->Put("/v1/kv/big", largest, "application/octet-stream");
  ASSERT_TRUE(put) << put.error();
  EXPECT_EQ(put->status, 201);

  auto too_big = client->Put("/v1/kv/big", largest + "x", "application/octet-stream");
  ASSERT_TRUE(too_big) << too_big.error();
  EXPECT_EQ(too_big->status, 413);
  EXPECT_TRUE(IsJsonError(too_big->body, "value_too_large"));

  auto got = client->Get("/v1/kv/big");
  ASSERT_TRUE(got) << got.error();
  EXPECT_EQ(got->status, 200);
  EXPECT_TRUE(got->body == largest) << "the value changed after a refused PUT";

  // httplib read the refused body to its end, so the connection still works.
  EXPECT_EQ(client->Get("/healthz")->status, 200);
}

TEST(SampleServerApi, ChunkedValueOverTheLimitIs413AndClosesTheConnection) {
  auto client = MakeClient(*small);
  ASSERT_EQ(client->Put("/v1/kv/chunked", "before", "text/plain")->status, 201);

  // One chunk of the limit, then one byte more; sent at once, so the server
  // reads it all before it answers.
  const std::string chunk(kSmallMaxValue, 'c');
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
  RawConnection connection(small->host(), small->port());
  ASSERT_TRUE(connection.Send(Request("PUT", "/v1/kv/chunked", "Transfer-Encoding: chunked\r\n",
                                      size_line + chunk + "\r\n1\r\nx\r\n0\r\n\r\n")));
  auto reply = connection.ReadReply();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 413);
  EXPECT_TRUE(IsJsonError(reply->body, "value_too_large"));
  EXPECT_EQ(reply->header("Connection"), "close");
  EXPECT_TRUE(connection.EndsWithin(std::chrono::seconds(5)));

  EXPECT_EQ(client->Get("/v1/kv/chunked")->body, "before");

  // A chunked value within the limit is stored whole.
  const std::string value = sample_server_test::MakeValue("chunked", kSmallMaxValue);
  size_t sent = 0;
  auto put = client->Put(
      "/v1/kv/chunked",
      [&](size_t, httplib::DataSink& sink) {
        const size_t piece = std::min<size_t>(97, value.size() - sent);
        sink.write(value.data() + sent, piece);
        sent += piece;
        if (sent == value.size()) sink.done();
        return true;
      },
      "application/octet-stream");
  ASSERT_TRUE(put) << put.error();
  EXPECT_EQ(put->status, 200);
  EXPECT_EQ(client->Get("/v1/kv/chunked")->body, value);
}

TEST(SampleServerApi, CompressedValueIsStoredDecodedAndCappedDecoded) {
  auto client = MakeClient(*small);
  client->set_compress(true);  // Content-Encoding: gzip
  const std::string value = sample_server_test::MakeValue("gzip", kSmallMaxValue);
  auto put = client->Put("/v1/kv/gzip", value, "text/plain");
  ASSERT_TRUE(put) << put.error();
  EXPECT_EQ(put->status, 201);
  // A few hundred compressed bytes that inflate far over the limit.
  auto bomb = client->Put("/v1/kv/gzip", std::string(256 << 10, '\0'), "text/plain");
  ASSERT_TRUE(bomb) << bomb.error();
  EXPECT_EQ(bomb->status, 413);
  EXPECT_TRUE(IsJsonError(bomb->body, "value_too_large"));

  auto plain = MakeClient(*small);
  auto got = plain->Get("/v1/kv/gzip");
  ASSERT_TRUE(got) << got.error();
  EXPECT_EQ(got->body, value);
}

TEST(SampleServerApi, WrongMethodIs405WithAllow) {
  auto client = MakeClient(*server);
  ASSERT_EQ(client->Put("/v1/kv/fixed", "fixed", "text/plain")->status, 201);
  const std::string key_methods = "GET, HEAD, PUT, DELETE";
  const std::string read_only = "GET, HEAD";
  struct Case {
    httplib::Result result;
    const char* what;
    std::string allow;
  };
  std::vector<Case> cases;
  cases.push_back({client->Post("/v1/kv/fixed", "x", "text/plain"), "POST key", key_methods});
  cases.push_back({client->Patch("/v1/kv/fixed", "x", "text/plain"), "PATCH key", key_methods});
  cases.push_back({client->Options("/v1/kv/fixed"), "OPTIONS key", key_methods});
  cases.push_back({client->Put("/healthz", "x", "text/plain"), "PUT healthz", read_only});
  cases.push_back({client->Delete("/healthz"), "DELETE healthz", read_only});
  cases.push_back({client->Post("/v1/kv", "x", "text/plain"), "POST list", read_only});
  cases.push_back({client->Delete("/v1/kv"), "DELETE list", read_only});
  cases.push_back({client->Put("/v1/kv", "x", "text/plain"), "PUT list", read_only});
  for (Case& c : cases) {
    ASSERT_TRUE(c.result) << c.what << ": " << c.result.error();
    EXPECT_EQ(c.result->status, 405) << c.what;
    EXPECT_EQ(c.result->get_header_value("Allow"), c.allow) << c.what;
    EXPECT_TRUE(IsJsonError(c.result->body, "method_not_allowed")) << c.what;
  }

  // Methods httplib has no routes for, and a POST without a length, which
  // httplib would otherwise wait on until the client closes.
  for (const std::string& request :
       {Request("TRACE", "/healthz"), Request("CONNECT", "/v1/kv/fixed"),
        Request("POST", "/v1/kv/fixed")}) {
    auto reply = SendRaw(*server, request);
    ASSERT_TRUE(reply) << request;
    EXPECT_EQ(reply->status, 405) << request;
    EXPECT_TRUE(IsJsonError(reply->body, "method_not_allowed")) << request;
  }
  EXPECT_EQ(client->Get("/v1/kv/fixed")->body, "fixed");
}

TEST(SampleServerApi, UnknownPathIs404WithAJsonError) {
  auto client = MakeClient(*server);
  for (const char* path : {"/", "/nope", "/v1", "/v1/kvx", "/healthz/", "/v2/kv/a"}) {
    auto res = client->Get(path);
    ASSERT_TRUE(res) << path << ": " << res.error();
    EXPECT_EQ(res->status, 404) << path;
    EXPECT_TRUE(IsJsonError(res->body, "not_found")) << path;
  }
}

TEST(SampleServerApi, PutWithoutALengthIs411) {
  auto reply = SendRaw(*server, Request("PUT", "/v1/kv/unsized", "", "abc"));
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 411);
  EXPECT_TRUE(IsJsonError(reply->body, "length_required"));
  EXPECT_EQ(MakeClient(*server)->Get("/v1/kv/unsized")->status, 404);
}

TEST(SampleServerApi, MalformedHttpIs400WithAJsonError) {
  struct Case {
    std::string request;
    int status;
    const char* error;
  };
  const std::vector<Case> cases = {
      {"garbage\r\n\r\n", 400, "bad_request"},
      {"\x16\x03\x01\x02\x10\x01\x02\x01\xfc\x03\x03\r\n\r\n", 400, "bad_request"},  // TLS
      {"GET /healthz HTTP/9.9\r\nHost: a\r\n\r\n", 400, "bad_request"},
      {"GET /healthz\r\n\r\n", 400, "bad_request"},
      {"FOO /healthz HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bad_request"},
      {"GET /healthz HTTP/1.1\r\n\r\n", 400, "bad_request"},
      {"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "bad_request"},
      {Request("GET", "/healthz", "X-Long: " + std::string(9000, 'l') + "\r\n"), 400,
       "bad_request"},
      {Request("PUT", "/v1/kv/bad", "Content-Length: abc\r\n", "abc"), 400, "bad_request"},
      {Request("PUT", "/v1/kv/bad", "Content-Length: -3\r\n", "abc"), 400, "bad_request"},
      {Request("PUT", "/v1/kv/bad", "Content-Length: 3\r\nContent-Length: 4\r\n", "abcd"), 400,
       "bad_request"},
      {Request("PUT", "/v1/kv/bad", "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
               "3\r\nabc\r\n0\r\n\r\n"),
       400, "bad_request"},
      {Request("PUT", "/v1/kv/bad", "Transfer-Encoding: gzip, chunked\r\n",
               "3\r\nabc\r\n0\r\n\r\n"),
       400, "bad_request"},
      {Request("PUT", "/v1/kv/bad", "Transfer-Encoding: chunked\r\n", "zz\r\nabc\r\n0\r\n\r\n"),
       400, "bad_request"},
      {Request("PUT", "/v1/kv/bad", "Content-Length: 5\r\nContent-Encoding: gzip\r\n", "nogzp"),
       400, "bad_request"},
      {Request("PUT", "/v1/kv/bad", "Content-Length: 3\r\nContent-Encoding: rot13\r\n", "abc"), 415,
       "unsupported_media_type"},
      {Request("PUT", "/v1/kv/bad",
               "Content-Length: 3\r\nContent-Type: multipart/form-data; boundary=x\r\n", "abc"),
       415, "unsupported_media_type"},
      {"GET /" + std::string(9000, 'u') + " HTTP/1.1\r\nHost: a\r\n\r\n", 414, "uri_too_long"},
  };
  for (const Case& c : cases) {
    const std::string shown = c.request.substr(0, 80);
    auto reply = SendRaw(*server, c.request);
    ASSERT_TRUE(reply) << shown;
    EXPECT_EQ(reply->status, c.status) << shown;
    EXPECT_TRUE(IsJsonError(reply->body, c.error)) << shown;
  }
  auto client = MakeClient(*server);
  EXPECT_EQ(client->Get("/v1/kv/bad")->status, 404) << "a malformed PUT stored a value";
  EXPECT_EQ(client->Get("/healthz")->status, 200);
}

// A client that announces more than it sends holds a worker thread only
// until the read timeout (5 s), and what it did send is not stored.
TEST(SampleServerApi, BodyShorterThanAnnouncedIs400AfterTheReadTimeout) {
  RawConnection connection(server->host(), server->port());
  ASSERT_TRUE(connection.Send(Request("PUT", "/v1/kv/short", "Content-Length: 10\r\n", "abc")));
  const auto start = std::chrono::steady_clock::now();
  auto reply = connection.ReadReply(std::chrono::seconds(15));
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 400);
  EXPECT_TRUE(IsJsonError(reply->body, "bad_request"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(MakeClient(*server)->Get("/v1/kv/short")->status, 404);
}

TEST(SampleServerApi, RejectedRequestWithAnUnreadBodyClosesTheConnection) {
  // Whatever followed the bad Content-Length is not taken as a request.
  RawConnection connection(server->host(), server->port());
  ASSERT_TRUE(connection.Send(
      Request("PUT", "/v1/kv/smuggled", "Content-Length: 1x\r\n",
              Request("PUT", "/v1/kv/smuggled", "Content-Length: 5\r\n", "inner"))));
  auto reply = connection.ReadReply();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 400);
  EXPECT_TRUE(connection.EndsWithin(std::chrono::seconds(5)));
  EXPECT_EQ(MakeClient(*server)->Get("/v1/kv/smuggled")->status, 404);
}

TEST(SampleServerApi, EveryRequestGetsOneAccessLogLine) {
  auto client = MakeClient(*server);
  ASSERT_EQ(client->Put("/v1/kv/logged", "12345", "text/plain")->status, 201);
  ASSERT_EQ(client->Get("/v1/kv/logged")->status, 200);
  // The line is written just after the response; give it a moment.
  const std::vector<std::string> expected = {"PUT /v1/kv/logged 201 0 ",
                                             "GET /v1/kv/logged 200 5 "};
  std::string log;
  for (int attempt = 0; attempt < 100; ++attempt) {
    log = sample_server_test::ReadFile(server->log_path());
    if (log.find(expected[1]) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (const std::string& line : expected) {
    size_t at = log.find(line);
    ASSERT_NE(at, std::string::npos) << "no \"" << line << "\" in the log:\n" << log;
    const std::string rest = log.substr(at + line.size(), log.find('\n', at) - at - line.size());
    EXPECT_EQ(rest.find_first_not_of("0123456789"), rest.size() - 2) << rest;
    EXPECT_EQ(rest.substr(rest.size() - 2), "us") << rest;
    EXPECT_EQ(log.find(line, at + 1), std::string::npos) << "two lines for one request";
  }
}

// Mutations of valid requests: none may crash the server, get a 5xx, or
// change a key it did not name. A mutation that leaves a request incomplete
// gets no reply within the short wait and is abandoned. (The client never
// half-closes: httplib 0.11 does not answer a client that did.)
TEST(SampleServerApi, SurvivesMangledRequests) {
  auto client = MakeClient(*server);
  ASSERT_EQ(client->Put("/v1/kv/canary", "tweet", "text/plain")->status, 201);
  const std::vector<std::string> seeds = {
      Request("PUT", "/v1/kv/fuzz", "Content-Length: 5\r\n", "value"),
      Request("PUT", "/v1/kv/fuzz", "Transfer-Encoding: chunked\r\n", "5\r\nvalue\r\n0\r\n\r\n"),
      Request("GET", "/v1/kv?prefix=fu&limit=3"),
      Request("DELETE", "/v1/kv/fuzz"),
      Request("GET", "/healthz", "Connection: keep-alive\r\n"),
  };
  constexpr int kThreads = 4;
  constexpr int kRounds = 100;
  std::atomic<int> replies{0};
  std::atomic<int> server_errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 random(20240229 + t);
      for (int round = 0; round < kRounds; ++round) {
        std::string request = seeds[round % seeds.size()];
        const int edits = 1 + static_cast<int>(random() % 3);
        for (int e = 0; e < edits; ++e) {
          const size_t at = random() % request.size();
          switch (random() % 3) {
            case 0:
              request[at] = static_cast<char>(random() % 256);
              break;
            case 1:
              request.erase(at, 1 + random() % 4);
              break;
            case 2:
              request.insert(at, std::string(1 + random() % 3, "\r\n: 0%\x00\xff"[random() % 8]));
              break;
          }
        }
        RawConnection connection(server->host(), server->port());
        if (!connection.connected()) {
          ++server_errors;  // the server is gone
          return;
        }
        connection.Send(request);
        if (auto reply = connection.ReadReply(std::chrono::milliseconds(150))) {
          ++replies;
          if (reply->status >= 500) ++server_errors;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(server_errors, 0);
  EXPECT_GT(replies, kThreads * kRounds / 4) << "too few requests got an answer";
  EXPECT_EQ(client->Get("/v1/kv/canary")->body, "tweet");
  EXPECT_EQ(client->Get("/healthz")->status, 200);
}

}  // namespace
