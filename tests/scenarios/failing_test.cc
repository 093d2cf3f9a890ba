// A test that fails after its server logged something: the failure must show
// what the server wrote during that test. Run by scenarios_test.

#include <gtest/gtest.h>
#include <gtest_fork_env/fork_server_env.h>
#include <httplib.h>

#include "servers.h"

namespace {

gtest_fork_env::ForkServerEnv* env = nullptr;

}  // namespace

TEST(FailingTest, PassesQuietly) {
  httplib::Client client(env->host(), env->port());
  EXPECT_TRUE(client.Get("/pid"));
}

TEST(FailingTest, FailsAfterARequest) {
  httplib::Client client(env->host(), env->port());
  auto answer = client.Get("/log?line=handled-request-of-the-failing-test");
  ASSERT_TRUE(answer);
  FAIL() << "failing on purpose";
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  gtest_fork_env::Options options;
  options.name = "chatty";
  env = new gtest_fork_env::ForkServerEnv(scenarios::ServeHello, options);
  ::testing::AddGlobalTestEnvironment(env);
  return RUN_ALL_TESTS();
}
