// A test binary whose server ignores SIGTERM: TearDown must SIGKILL it after
// stop_timeout (200 ms here), warn, and leave no process. Run by
// scenarios_test.

#include <gtest/gtest.h>
#include <gtest_fork_env/fork_server_env.h>

#include <cstdio>

#include "servers.h"

namespace {

gtest_fork_env::ForkServerEnv* env = nullptr;

}  // namespace

TEST(IgnoresSigterm, ServerIsUp) {
  EXPECT_TRUE(env->IsRunning());
  std::printf("SERVER_PID=%d\n", env->pid());
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  gtest_fork_env::Options options;
  options.name = "stubborn";
  options.stop_timeout = std::chrono::milliseconds(200);
  env = new gtest_fork_env::ForkServerEnv(scenarios::ServeIgnoringSigterm, options);
  ::testing::AddGlobalTestEnvironment(env);
  return RUN_ALL_TESTS();
}
