// Two servers, the second handed the first one's address through a
// placeholder. Both append "start NAME" and "stop NAME" to ORDER_FILE, so
// scenarios_test can check that they start in registration order and stop in
// reverse.

#include <gtest/gtest.h>
#include <gtest_fork_env/fork_server_env.h>
#include <gtest_fork_env/httplib_server.h>
#include <httplib.h>

#include <cstdlib>
#include <fstream>

namespace {

gtest_fork_env::ForkServerEnv* upstream = nullptr;
gtest_fork_env::ForkServerEnv* api = nullptr;

void Record(const std::string& line) {
  const char* path = std::getenv("ORDER_FILE");
  if (path) std::ofstream(path, std::ios::app) << line << "\n";
}

int ServeUpstream(gtest_fork_env::ServerContext& context) {
  Record("start " + context.name());
  httplib::Server server;
  server.set_keep_alive_timeout(1);
  server.Get("/data", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("data from upstream", "text/plain");
  });
  int code = gtest_fork_env::ServeHttplib(server, context);
  Record("stop " + context.name());
  return code;
}

// Proxies GET /data to UPSTREAM_URL, which Options::env fills in.
int ServeApi(gtest_fork_env::ServerContext& context) {
  Record("start " + context.name());
  const std::string upstream_url = std::getenv("UPSTREAM_URL") ? std::getenv("UPSTREAM_URL") : "";
  httplib::Server server;
  server.set_keep_alive_timeout(1);
  server.Get("/upstream", [upstream_url](const httplib::Request&, httplib::Response& response) {
    response.set_content(upstream_url, "text/plain");
  });
  server.Get("/data", [upstream_url](const httplib::Request&, httplib::Response& response) {
    httplib::Client client(upstream_url);
    auto answer = client.Get("/data");
    response.set_content(answer ? "via api: " + answer->body : "upstream unreachable",
                         "text/plain");
  });
  int code = gtest_fork_env::ServeHttplib(server, context);
  Record("stop " + context.name());
  return code;
}

}  // namespace

TEST(TwoServers, ApiGotTheUpstreamAddress) {
  httplib::Client client(api->host(), api->port());
  auto answer = client.Get("/upstream");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->body, upstream->url());
}

TEST(TwoServers, ApiReachesUpstream) {
  httplib::Client client(api->host(), api->port());
  auto answer = client.Get("/data");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->body, "via api: data from upstream");
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  gtest_fork_env::Options upstream_options;
  upstream_options.name = "upstream";
  upstream = new gtest_fork_env::ForkServerEnv(ServeUpstream, upstream_options);
  gtest_fork_env::Options api_options;
  api_options.name = "api";
  api_options.env = {"UPSTREAM_URL={upstream.url}"};
  api = new gtest_fork_env::ForkServerEnv(ServeApi, api_options);
  ::testing::AddGlobalTestEnvironment(upstream);
  ::testing::AddGlobalTestEnvironment(api);
  return RUN_ALL_TESTS();
}
