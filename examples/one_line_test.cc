// The README's first line: one call registers a server for the whole test
// binary. The call stands at the margin, as the README shows it, so this
// file has its own main() and keeps clang-format off that line.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdlib>

#include <gtest_fork_env/fork_server_env.h>
#include <gtest_fork_env/httplib_server.h>

namespace {

int ServeMyApi(gtest_fork_env::ServerContext& context) {
  httplib::Server server;
  server.Get("/hello", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("hello", "text/plain");
  });
  return gtest_fork_env::ServeHttplib(server, context);
}

}  // namespace

TEST(OneLine, ServerAnswers) {
  // The environment exports its address to the test process.
  const char* port = std::getenv("GTEST_FORK_ENV_SERVER_PORT");
  ASSERT_NE(port, nullptr) << "the environment did not export its port";
  httplib::Client client("127.0.0.1", std::atoi(port));
  auto answer = client.Get("/hello");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->body, "hello");
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  // clang-format off
::testing::AddGlobalTestEnvironment(new gtest_fork_env::ForkServerEnv(ServeMyApi));
  // clang-format on
  return RUN_ALL_TESTS();
}
