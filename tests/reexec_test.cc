// A test binary that already has a second thread when its environment is set
// up: SpawnMode::kAuto must re-execute the binary instead of forking it.

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "gtest_fork_env/fork_server_env.h"
#include "gtest_fork_env/httplib_server.h"

namespace {

pid_t g_main_pid = -1;  // set by main(); equal to getpid() only where main ran
gtest_fork_env::ForkServerEnv* env = nullptr;

int ServeReexecInfo(gtest_fork_env::ServerContext& context) {
  httplib::Server server;
  server.set_keep_alive_timeout(1);
  server.Get("/main-ran-here", [](const httplib::Request&, httplib::Response& response) {
    response.set_content(g_main_pid == getpid() ? "yes" : "no", "text/plain");
  });
  return gtest_fork_env::ServeHttplib(server, context);
}

TEST(Reexec, ServerIsAFreshRunOfThisBinaryNotAForkOfIt) {
  httplib::Client client(env->host(), env->port());
  auto answer = client.Get("/main-ran-here");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->body, "yes");
  char server_exe[4096] = {}, own_exe[4096] = {};
  ASSERT_GT(readlink(("/proc/" + std::to_string(env->pid()) + "/exe").c_str(), server_exe,
                     sizeof server_exe - 1),
            0);
  ASSERT_GT(readlink("/proc/self/exe", own_exe, sizeof own_exe - 1), 0);
  EXPECT_STREQ(server_exe, own_exe);
}

// An environment made inside a test cannot be made again by a re-executed
// copy of the binary, so it forks even here, where the binary has threads.
TEST(Reexec, EnvironmentMadeInATestForks) {
  gtest_fork_env::Options options;
  options.name = "local";
  gtest_fork_env::ForkServerEnv local(ServeReexecInfo, options);
  local.SetUp();
  httplib::Client client(local.host(), local.port());
  auto answer = client.Get("/main-ran-here");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->body, "no");
  local.TearDown();
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  g_main_pid = getpid();
  // A thread that lives through the whole run, as a logger or a pool would.
  std::mutex mutex;
  std::condition_variable done;
  bool finished = false;
  std::thread worker([&] {
    std::unique_lock<std::mutex> lock(mutex);
    done.wait(lock, [&] { return finished; });
  });
  gtest_fork_env::Options options;
  options.name = "reexec";
  env = new gtest_fork_env::ForkServerEnv(ServeReexecInfo, options);
  ::testing::AddGlobalTestEnvironment(env);
  int result = RUN_ALL_TESTS();
  {
    std::lock_guard<std::mutex> lock(mutex);
    finished = true;
  }
  done.notify_all();
  worker.join();
  return result;
}
