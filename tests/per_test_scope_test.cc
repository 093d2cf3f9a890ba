// Scope::kTest in working order, inside one test process: two servers, each
// with its own template; data directories; Restart() within a test; death
// tests of both styles.

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <future>
#include <iterator>
#include <mutex>
#include <string>
#include <vector>

#include <gtest_fork_env/fork_server_env.h>
#include <gtest_fork_env/httplib_server.h>

#include "support/subprocess.h"

namespace {

using gtest_fork_env::ForkServerEnv;
using gtest_fork_env::Options;
using gtest_fork_env::Scope;

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

// Answers "all" once `n` requests are in it at the same time ("alone" after
// 5 s without them): each needs a worker of its own.
class Gathering {
 public:
  std::string Join(int n) {
    std::unique_lock<std::mutex> lock(mutex_);
    ++inside_;
    changed_.notify_all();
    const bool all = changed_.wait_for(lock, std::chrono::seconds(5), [&] { return inside_ >= n; });
    return all ? "all" : "alone";
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int inside_ = 0;
};

// Keeps a value in memory and in a file of its data directory.
int ServeNotes(gtest_fork_env::ServerContext& context) {
  std::string memory = "empty";
  Gathering gathering;
  httplib::Server server;
  server.set_keep_alive_timeout(1);
  server.Get("/note", [&](const httplib::Request& request, httplib::Response& response) {
    memory = request.get_param_value("text");
    std::ofstream(context.data_dir() + "/note.txt") << memory;
    response.set_content("ok", "text/plain");
  });
  server.Get("/memory", [&](const httplib::Request&, httplib::Response& response) {
    response.set_content(memory, "text/plain");
  });
  server.Get("/file", [&](const httplib::Request&, httplib::Response& response) {
    response.set_content(ReadFile(context.data_dir() + "/note.txt"), "text/plain");
  });
  server.Get("/pid", [](const httplib::Request&, httplib::Response& response) {
    response.set_content(std::to_string(getpid()), "text/plain");
  });
  server.Get("/threads", [](const httplib::Request&, httplib::Response& response) {
    response.set_content(std::to_string(test_support::ThreadsOf(getpid())), "text/plain");
  });
  server.Get("/gather", [&](const httplib::Request& request, httplib::Response& response) {
    response.set_content(gathering.Join(std::stoi(request.get_param_value("n"))), "text/plain");
  });
  return gtest_fork_env::ServeHttplib(server, context);
}

Options Named(const std::string& name) {
  Options options;
  options.name = name;
  options.scope = Scope::kTest;
  return options;
}

auto* const notes = static_cast<ForkServerEnv*>(
    ::testing::AddGlobalTestEnvironment(new ForkServerEnv(ServeNotes, Named("notes"))));
auto* const other = static_cast<ForkServerEnv*>(
    ::testing::AddGlobalTestEnvironment(new ForkServerEnv(ServeNotes, Named("other"))));

std::string Get(ForkServerEnv* env, const std::string& path) {
  httplib::Client client(env->host(), env->port());
  client.set_read_timeout(5, 0);
  auto answer = client.Get(path);
  return answer ? answer->body : "no answer: " + httplib::to_string(answer.error());
}

TEST(PerTestScope, EachServerHasItsOwnCloneAndDataDirectory) {
  EXPECT_NE(notes->port(), other->port());
  EXPECT_NE(notes->pid(), other->pid());
  EXPECT_EQ(Get(notes, "/pid"), std::to_string(notes->pid()));
  EXPECT_EQ(Get(notes, "/note?text=a"), "ok");
  EXPECT_EQ(ReadFile(notes->data_dir() + "/note.txt"), "a");
  EXPECT_EQ(Get(other, "/file"), "");
  EXPECT_NE(notes->data_dir(), other->data_dir());
}

TEST(PerTestScope, NoTestSeesAnotherTestsDataFile) {
  EXPECT_EQ(Get(notes, "/file"), "");
  EXPECT_EQ(Get(notes, "/memory"), "empty");
  EXPECT_EQ(Get(notes, "/note?text=b"), "ok");
}

// ServeHttplib gives a clone httplib's workers as connections need them,
// not httplib's whole pool (CPPHTTPLIB_THREAD_POOL_COUNT, 8 or more) at once:
// the accept loop, the stop-signal watcher, this GET's worker, and maybe one
// still closing the probe's connection.
TEST(PerTestScope, ACloneMakesWorkersOnlyAsConnectionsNeedThem) {
  const std::string threads = Get(notes, "/threads");
  EXPECT_LE(std::atoi(threads.c_str()), 4) << threads;
  EXPECT_GE(std::atoi(threads.c_str()), 3) << threads;
}

TEST(PerTestScope, ConcurrentConnectionsToACloneEachGetAWorker) {
  std::vector<std::future<std::string>> answers;
  for (int i = 0; i < 4; ++i) {
    answers.push_back(std::async(std::launch::async, [] { return Get(notes, "/gather?n=4"); }));
  }
  for (auto& answer : answers) EXPECT_EQ(answer.get(), "all");
}

TEST(PerTestScope, RestartKeepsTheFilesOfThisTestButNotItsMemory) {
  const pid_t before = notes->pid();
  const uint16_t port = notes->port();
  const std::string dir = notes->data_dir();
  ASSERT_EQ(Get(notes, "/note?text=kept"), "ok");
  ASSERT_TRUE(notes->Restart());
  EXPECT_NE(notes->pid(), before);
  EXPECT_EQ(notes->port(), port);
  EXPECT_EQ(notes->data_dir(), dir);
  EXPECT_EQ(Get(notes, "/file"), "kept");
  EXPECT_EQ(Get(notes, "/memory"), "empty");
}

TEST(PerTestScope, KillThenWaitForExitThenStartGivesAFreshClone) {
  const pid_t before = notes->pid();
  ASSERT_TRUE(notes->Kill(SIGKILL));
  EXPECT_TRUE(notes->WaitForExit(std::chrono::milliseconds(5000)));
  EXPECT_FALSE(notes->IsRunning());
  ASSERT_TRUE(notes->Start());
  EXPECT_NE(notes->pid(), before);
  EXPECT_EQ(Get(notes, "/memory"), "empty");
}

TEST(PerTestScope, ExportedAddressNamesThisTestsClone) {
  EXPECT_EQ(std::string(std::getenv("GTEST_FORK_ENV_NOTES_PID")), std::to_string(notes->pid()));
  EXPECT_EQ(std::string(std::getenv("GTEST_FORK_ENV_NOTES_URL")), notes->url());
}

TEST(PerTestScopeDeathTest, FastStyleChildUsesThisTestsClone) {
  GTEST_FLAG_SET(death_test_style, "fast");
  EXPECT_EXIT(
      {
        bool fresh = Get(notes, "/memory") == "empty";
        _exit(fresh ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(PerTestScopeDeathTest, ThreadsafeStyleChildGetsServersOfItsOwn) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        bool answers = Get(notes, "/memory") == "empty";
        _exit(answers ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
