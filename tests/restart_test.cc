// Stop, Start, Restart and Kill from inside a test. Under ctest every test
// runs alone; scenarios_test also runs this binary whole and shuffled, where
// a test that left the server down is followed by tests that need it.

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <thread>

#include "gtest_fork_env/fork_server_env.h"
#include "scenarios/servers.h"

namespace {

using gtest_fork_env::ForkServerEnv;

ForkServerEnv* const env = [] {
  gtest_fork_env::Options options;
  options.name = "restartable";
  return static_cast<ForkServerEnv*>(::testing::AddGlobalTestEnvironment(
      new ForkServerEnv(scenarios::ServeHello, options)));
}();

bool Answers() {
  httplib::Client client(env->host(), env->port());
  client.set_connection_timeout(1);
  auto answer = client.Get("/hello");
  return answer && answer->body == "hello from restartable";
}

TEST(Restart, GivesANewProcessOnTheSamePort) {
  const uint16_t port = env->port();
  const pid_t before = env->pid();
  ASSERT_TRUE(env->Restart());
  EXPECT_EQ(env->port(), port);
  EXPECT_NE(env->pid(), before);
  EXPECT_TRUE(Answers());
}

TEST(Restart, StopThenStart) {
  const uint16_t port = env->port();
  ASSERT_TRUE(env->Stop());
  EXPECT_FALSE(env->IsRunning());
  httplib::Client client("127.0.0.1", port);
  EXPECT_FALSE(client.Get("/hello"));  // nothing listens
  ASSERT_TRUE(env->Start());
  EXPECT_EQ(env->port(), port);
  EXPECT_TRUE(Answers());
}

TEST(Restart, KillIsExpectedNotAFailure) {
  ASSERT_TRUE(env->Kill(SIGKILL));
  for (int i = 0; i < 400 && env->IsRunning(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_FALSE(env->IsRunning());
}

TEST(Restart, StartRightAfterKillWaitsForTheDeath) {
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(env->Kill(SIGKILL));
    ASSERT_TRUE(env->Start()) << "iteration " << i;
  }
  EXPECT_TRUE(Answers());
}

TEST(Restart, StoppedServerIsLeftDown) {
  ASSERT_TRUE(env->Stop());
  EXPECT_FALSE(env->IsRunning());
}

TEST(Restart, EveryTestFindsARunningServer) {
  EXPECT_TRUE(env->IsRunning());
  EXPECT_TRUE(Answers());
}

}  // namespace
