// The quick start: a server function, one registration, a test that talks to
// the server over HTTP. The README shows this file whole.
#include <gtest/gtest.h>
#include <httplib.h>

#include <gtest_fork_env/fork_server_env.h>
#include <gtest_fork_env/httplib_server.h>

int ServeMyApi(gtest_fork_env::ServerContext& context) {
  httplib::Server server;  // made in the child, after the fork
  server.Get("/hello", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("hello", "text/plain");
  });
  return gtest_fork_env::ServeHttplib(server, context);
}

auto* const api = static_cast<gtest_fork_env::ForkServerEnv*>(
    ::testing::AddGlobalTestEnvironment(new gtest_fork_env::ForkServerEnv(ServeMyApi)));

TEST(Api, SaysHello) {
  httplib::Client client(api->host(), api->port());
  auto answer = client.Get("/hello");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->body, "hello");
}
