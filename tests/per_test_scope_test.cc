// Scope::kTest in working order, inside one test process: two servers, each
// with its own template; data directories; Restart() within a test; death
// tests of both styles.

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>

#include <gtest_fork_env/fork_server_env.h>
#include <gtest_fork_env/httplib_server.h>

namespace {

using gtest_fork_env::ForkServerEnv;
using gtest_fork_env::Options;
using gtest_fork_env::Scope;

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

// Keeps a value in memory and in a file of its data directory.
int ServeNotes(gtest_fork_env::ServerContext& context) {
  std::string memory = "empty";
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
