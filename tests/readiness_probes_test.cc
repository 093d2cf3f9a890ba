// Each readiness probe as ForkServerEnv uses it: the environment's wait for
// a real server. One attempt of a probe function alone is probe_once_test.cc.

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "gtest_fork_env/fork_server_env.h"
#include "gtest_fork_env/httplib_server.h"
#include "scenarios/servers.h"

namespace {

using gtest_fork_env::ForkServerEnv;
using gtest_fork_env::Options;
using gtest_fork_env::Probe;

ForkServerEnv* Add(ForkServerEnv* env) {
  return static_cast<ForkServerEnv*>(::testing::AddGlobalTestEnvironment(env));
}

// Answers /ready with 503 twice, then 200; /ready-calls counts the calls.
int ServeSlowToWarmUp(gtest_fork_env::ServerContext& context) {
  httplib::Server server;
  server.set_keep_alive_timeout(1);
  auto calls = std::make_shared<std::atomic<int>>(0);
  server.Get("/ready", [calls](const httplib::Request&, httplib::Response& response) {
    response.status = ++*calls <= 2 ? 503 : 200;
  });
  server.Get("/ready-calls", [calls](const httplib::Request&, httplib::Response& response) {
    response.set_content(std::to_string(calls->load()), "text/plain");
  });
  return gtest_fork_env::ServeHttplib(server, context);
}

ForkServerEnv* const warming = [] {
  Options options;
  options.name = "warming";
  options.probe = Probe::HttpGet("/ready");
  return Add(new ForkServerEnv(ServeSlowToWarmUp, options));
}();

std::atomic<int> predicate_calls{0};

ForkServerEnv* const predicated = [] {
  Options options;
  options.name = "predicated";
  options.probe = Probe::Predicate([](const std::string& host, uint16_t port) {
    // Ready on the third call, and only if the server really answers.
    if (++predicate_calls < 3) return false;
    httplib::Client client(host, port);
    auto answer = client.Get("/hello");
    return answer && answer->status == 200;
  });
  return Add(new ForkServerEnv(scenarios::ServeHello, options));
}();

ForkServerEnv* const printing = [] {
  Options options;
  options.name = "printing";
  options.probe = Probe::LogLine("^Serving HTTP on .* port [0-9]+");
  // -u: unbuffered, so the line reaches the log when it is printed.
  return Add(ForkServerEnv::Exec({"python3", "-u", "-m", "http.server", "{port}", "--bind",
                                  "{host}", "--directory", "/"},
                                 options));
}();

TEST(Probes, HttpGetWaitsForA2xx) {
  httplib::Client client(warming->host(), warming->port());
  auto calls = client.Get("/ready-calls");
  ASSERT_TRUE(calls);
  EXPECT_EQ(calls->body, "3");  // two 503s, then the 200 that made it ready
}

TEST(Probes, PredicateIsCalledUntilItHolds) {
  EXPECT_EQ(predicate_calls.load(), 3);
  httplib::Client client(predicated->host(), predicated->port());
  auto answer = client.Get("/hello");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->body, "hello from predicated");
}

TEST(Probes, LogLineWaitsForTheServersOwnWord) {
  std::ifstream log(printing->log_path());
  std::string content((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(content.find("Serving HTTP on 127.0.0.1 port " + std::to_string(printing->port())),
            std::string::npos)
      << content;
  httplib::Client client(printing->host(), printing->port());
  auto answer = client.Get("/");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200);
}

}  // namespace
