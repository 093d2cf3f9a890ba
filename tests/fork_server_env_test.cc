// The happy path of ForkServerEnv, one server for this binary. Under ctest
// every test below runs in a process of its own, with a server of its own.

#include "gtest_fork_env/fork_server_env.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>

#include "scenarios/servers.h"

namespace {

gtest_fork_env::Options HelloOptions() {
  gtest_fork_env::Options options;
  options.name = "hello";
  return options;
}

auto* const env = static_cast<gtest_fork_env::ForkServerEnv*>(::testing::AddGlobalTestEnvironment(
    new gtest_fork_env::ForkServerEnv(scenarios::ServeHello, HelloOptions())));

std::string Get(const std::string& path) {
  httplib::Client client(env->host(), env->port());
  auto answer = client.Get(path);
  return answer ? answer->body : "no answer: " + httplib::to_string(answer.error());
}

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

TEST(ForkServerEnv, ServerAnswersOverHttp) { EXPECT_EQ(Get("/hello"), "hello from hello"); }

TEST(ForkServerEnv, ReportsTheBoundPortAndUrl) {
  EXPECT_NE(env->port(), 0);
  EXPECT_EQ(env->host(), "127.0.0.1");
  EXPECT_EQ(env->url(), "http://127.0.0.1:" + std::to_string(env->port()));
}

TEST(ForkServerEnv, ServerRunsInItsOwnProcessGroup) {
  ASSERT_GT(env->pid(), 0);
  EXPECT_NE(env->pid(), getpid());
  EXPECT_EQ(Get("/pid"), std::to_string(env->pid()));
  EXPECT_NE(getpgid(env->pid()), getpgid(0));
  EXPECT_TRUE(env->IsRunning());
}

TEST(ForkServerEnv, ServerOutputGoesToItsLogFile) {
  ASSERT_FALSE(env->log_path().empty());
  EXPECT_NE(ReadFile(env->log_path()).find("server hello starting"), std::string::npos);
}

TEST(ForkServerEnvDeathTest, FastStyleChildCanUseTheServer) {
  GTEST_FLAG_SET(death_test_style, "fast");
  EXPECT_EXIT(
      {
        bool answered = Get("/hello") == "hello from hello";
        std::fprintf(stderr, answered ? "child got its answer\n" : "child got no answer\n");
        std::_Exit(answered ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "child got its answer");
  EXPECT_EQ(Get("/hello"), "hello from hello");
}

TEST(ForkServerEnvDeathTest, ThreadsafeStyleChildCanUseTheServer) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // The re-executed child sets up its own environments, so it has its own
  // server; when it dies, that server must die with it.
  EXPECT_EXIT(
      {
        bool answered = Get("/hello") == "hello from hello";
        std::fprintf(stderr, answered ? "child got its answer\n" : "child got no answer\n");
        std::_Exit(answered ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "child got its answer");
  EXPECT_EQ(Get("/hello"), "hello from hello");
}

// exit() in a death test's child is that test's business: the guard that
// fails a run which exits while servers are up must leave it alone.
TEST(ForkServerEnvDeathTest, ExitInAFastStyleChildIsAllowed) {
  GTEST_FLAG_SET(death_test_style, "fast");
  EXPECT_EXIT(std::exit(0), ::testing::ExitedWithCode(0), "");
}

TEST(ForkServerEnvDeathTest, ExitInAThreadsafeStyleChildIsAllowed) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(std::exit(0), ::testing::ExitedWithCode(0), "");
}

}  // namespace
