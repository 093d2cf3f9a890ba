#include <gtest/gtest.h>
#include <gtest_fork_env/fork_server_env.h>
#include <gtest_fork_env/httplib_server.h>
#include <httplib.h>

namespace {

// Runs in the server process: bind, report the port, serve until SIGTERM.
int ServeApi(gtest_fork_env::ServerContext& context) {
  httplib::Server server;
  server.Get("/hello", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("hello", "text/plain");
  });
  return gtest_fork_env::ServeHttplib(server, context);
}

gtest_fork_env::ForkServerEnv* const api = static_cast<gtest_fork_env::ForkServerEnv*>(
    ::testing::AddGlobalTestEnvironment(new gtest_fork_env::ForkServerEnv(ServeApi)));

TEST(Api, SaysHello) {
  httplib::Client client(api->host(), api->port());
  auto result = client.Get("/hello");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->body, "hello");
}

}  // namespace
