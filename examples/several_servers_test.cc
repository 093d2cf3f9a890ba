// Several servers: a later one is handed an earlier one's address through a
// placeholder in Options::env.
#include <gtest/gtest.h>
#include <httplib.h>

#include <gtest_fork_env/fork_server_env.h>
#include <gtest_fork_env/httplib_server.h>

#include <cstdlib>
#include <string>

namespace {

int ServeUpstream(gtest_fork_env::ServerContext& context) {
  httplib::Server server;
  server.Get("/hello", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("hello from upstream", "text/plain");
  });
  return gtest_fork_env::ServeHttplib(server, context);
}

// Answers GET /upstream with the address it was given.
int ServeApi(gtest_fork_env::ServerContext& context) {
  const char* upstream = std::getenv("UPSTREAM_URL");
  const std::string upstream_url = upstream ? upstream : "";
  httplib::Server server;
  server.Get("/upstream", [upstream_url](const httplib::Request&, httplib::Response& response) {
    response.set_content(upstream_url, "text/plain");
  });
  return gtest_fork_env::ServeHttplib(server, context);
}

gtest_fork_env::Options UpstreamOptions() {
  gtest_fork_env::Options options;
  options.name = "upstream";
  return options;
}

// The README's lines stand at the margin, as it shows them.
gtest_fork_env::Options ApiOptions() {
  // clang-format off
gtest_fork_env::Options api_options;
api_options.name = "api";
api_options.env = {"UPSTREAM_URL={upstream.url}"};  // read with getenv() in the server
  // clang-format on
  return api_options;
}

auto* const upstream = static_cast<gtest_fork_env::ForkServerEnv*>(
    ::testing::AddGlobalTestEnvironment(
        new gtest_fork_env::ForkServerEnv(ServeUpstream, UpstreamOptions())));
auto* const api = static_cast<gtest_fork_env::ForkServerEnv*>(
    ::testing::AddGlobalTestEnvironment(new gtest_fork_env::ForkServerEnv(ServeApi, ApiOptions())));

TEST(SeveralServers, ApiWasGivenTheUpstreamAddress) {
  httplib::Client client(api->host(), api->port());
  auto answer = client.Get("/upstream");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->body, upstream->url());
}

}  // namespace
