// Files under Scope::kTest: fork() copies memory, not files, so each test's
// server works in a data directory of its own. What the server wrote there
// before the checkpoint is in every test's copy; what a test's server writes
// is gone for the next test. Run in one process (BATCH BINARY).
#include <gtest/gtest.h>
#include <httplib.h>

#include <gtest_fork_env/fork_server_env.h>
#include <gtest_fork_env/httplib_client.h>
#include <gtest_fork_env/httplib_server.h>

#include <fstream>
#include <sstream>
#include <string>

namespace {

std::string Read(const std::string& path) {
  std::ostringstream text;
  text << std::ifstream(path).rdbuf();
  return text.str();
}

int ServeNotes(gtest_fork_env::ServerContext& context) {
  std::ofstream(context.data_dir() + "/notes.txt") << "seed;";  // copied for every test
  httplib::Server server;
  server.Post("/note", [&context](const httplib::Request& request, httplib::Response& response) {
    // Ask for data_dir() when serving: the checkpoint gives each clone its own.
    const std::string notes = context.data_dir() + "/notes.txt";
    std::ofstream(notes, std::ios::app) << request.body << ";";
    response.set_content(Read(notes), "text/plain");
  });
  return gtest_fork_env::ServeHttplib(server, context);
}

gtest_fork_env::ForkServerEnv* const notes = [] {
  gtest_fork_env::Options options;
  options.name = "notes";
  options.scope = gtest_fork_env::Scope::kTest;
  auto* env = new gtest_fork_env::ForkServerEnv(ServeNotes, options);
  ::testing::AddGlobalTestEnvironment(env);
  return env;
}();

std::string Note(const std::string& text) {
  auto answer = gtest_fork_env::MakeHttplibClient(*notes).Post("/note", text, "text/plain");
  return answer ? answer->body : "no answer";
}

TEST(DataDir, StartsFromTheCheckpointsFiles) { EXPECT_EQ(Note("a"), "seed;a;"); }

TEST(DataDir, DoesNotSeeTheLastTestsWrite) { EXPECT_EQ(Note("b"), "seed;b;"); }

TEST(DataDir, TheTestSeesTheSameDirectory) {
  Note("c");
  EXPECT_EQ(Read(notes->data_dir() + "/notes.txt"), "seed;c;");
}

}  // namespace
