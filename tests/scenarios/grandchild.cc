// A test binary whose server forks a grandchild that ignores SIGTERM. Its one
// test prints the pids, then ends the test binary the way PARENT_ACTION says:
// none (a normal run), wait (sleeps until the driver kills it), abort, segv,
// exit (calls exit(0) inside the test). Run by scenarios_test.

#include <gtest/gtest.h>
#include <gtest_fork_env/fork_server_env.h>
#include <httplib.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "servers.h"

namespace {

gtest_fork_env::ForkServerEnv* env = nullptr;

}  // namespace

TEST(Grandchild, ReportPidsThenEnd) {
  httplib::Client client(env->host(), env->port());
  auto answer = client.Get("/grandchild");
  ASSERT_TRUE(answer);
  std::printf("SERVER_PID=%d\nGRANDCHILD_PID=%s\n", env->pid(), answer->body.c_str());
  const char* action_env = std::getenv("PARENT_ACTION");
  const std::string action = action_env ? action_env : "none";
  std::printf("READY\n");
  std::fflush(stdout);
  if (action == "wait") std::this_thread::sleep_for(std::chrono::seconds(30));
  if (action == "abort") std::abort();
  if (action == "segv") std::raise(SIGSEGV);
  if (action == "exit") std::exit(0);
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  gtest_fork_env::Options options;
  options.name = "with-grandchild";
  env = new gtest_fork_env::ForkServerEnv(scenarios::ServeWithGrandchild, options);
  ::testing::AddGlobalTestEnvironment(env);
  return RUN_ALL_TESTS();
}
