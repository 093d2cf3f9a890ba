// A test binary whose server dies during the first test. That test must fail
// and name itself; the test after it must fail without running. Run by
// scenarios_test.

#include <gtest/gtest.h>
#include <gtest_fork_env/fork_server_env.h>
#include <httplib.h>

#include <cstdio>
#include <thread>

#include "servers.h"

namespace {

gtest_fork_env::ForkServerEnv* env = nullptr;

}  // namespace

TEST(Midrun, KillsServer) {
  httplib::Client client(env->host(), env->port());
  ASSERT_TRUE(client.Get("/die"));
  // Bounded wait until the exit is visible, so the check after this test
  // (not a later one) is the one that finds the server dead.
  for (int i = 0; i < 400 && env->IsRunning(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

TEST(Midrun, RunsAfterDeath) { std::printf("BODY OF RunsAfterDeath RAN\n"); }

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  gtest_fork_env::Options options;
  options.name = "mortal";
  env = new gtest_fork_env::ForkServerEnv(scenarios::ServeHello, options);
  ::testing::AddGlobalTestEnvironment(env);
  return RUN_ALL_TESTS();
}
