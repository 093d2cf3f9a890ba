// The README's headline: a fresh server for every test (Scope::kTest). The
// server function's state before ServeHttplib is made once, in the template;
// every test gets a copy-on-write clone of it. The two tests below would see
// each other's hits under the default Scope::kBinary; examples/CMakeLists.txt
// runs them in one process (BATCH BINARY), so this file is a real check.
#include <gtest/gtest.h>
#include <httplib.h>

#include <gtest_fork_env/fork_server_env.h>
#include <gtest_fork_env/httplib_client.h>
#include <gtest_fork_env/httplib_server.h>

#include <string>

namespace {

int ServeCounter(gtest_fork_env::ServerContext& context) {
  int hits = 0;  // everything up to ServeHttplib runs once: load data, warm caches here
  httplib::Server server;
  server.Post("/hit", [&hits](const httplib::Request&, httplib::Response& response) {
    response.set_content(std::to_string(++hits), "text/plain");
  });
  return gtest_fork_env::ServeHttplib(server, context);  // each test's clone starts here
}

gtest_fork_env::ForkServerEnv* const api = [] {
  gtest_fork_env::Options options;
  options.scope = gtest_fork_env::Scope::kTest;  // a fresh server for every test
  auto* env = new gtest_fork_env::ForkServerEnv(ServeCounter, options);
  ::testing::AddGlobalTestEnvironment(env);
  return env;
}();

TEST(Counter, StartsFromZero) {
  auto answer = gtest_fork_env::MakeHttplibClient(*api).Post("/hit");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->body, "1");
}

TEST(Counter, StartsFromZeroAgain) {  // same process, same port, a new clone
  auto answer = gtest_fork_env::MakeHttplibClient(*api).Post("/hit");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->body, "1");
}

}  // namespace
