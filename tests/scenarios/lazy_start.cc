// Options::lazy_start, run by scope_test as a subprocess: a server that
// starts only when a test first asks where it is. Each start of it appends
// a line to --starts-file; with --broken it exits at once instead.
//
//   lazy_start <marker> --starts-file=PATH [--broken] [--scope=test]
//       [gtest flags]

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <gtest_fork_env/fork_server_env.h>
#include <gtest_fork_env/httplib_server.h>

namespace {

using gtest_fork_env::ForkServerEnv;

std::string g_starts_file;
bool g_broken = false;
ForkServerEnv* g_lazy = nullptr;

int Serve(gtest_fork_env::ServerContext& context) {
  std::ofstream(g_starts_file, std::ios::app) << getpid() << "\n";
  if (g_broken) {
    std::printf("broken on purpose\n");
    return 3;
  }
  httplib::Server server;
  server.Get("/", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("lazy", "text/plain");
  });
  return gtest_fork_env::ServeHttplib(server, context);
}

TEST(Lazy, TestThatDoesNotAskStartsNothing) { SUCCEED(); }

TEST(Lazy, TestThatAsksGetsTheServer) {
  httplib::Client client(g_lazy->host(), g_lazy->port());
  auto answer = client.Get("/");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->body, "lazy");
  EXPECT_EQ(std::string(std::getenv("GTEST_FORK_ENV_LAZY_PORT")), std::to_string(g_lazy->port()));
}

TEST(Lazy, AnotherTestThatDoesNotAsk) { SUCCEED(); }

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  gtest_fork_env::Options options;
  options.name = "lazy";
  options.lazy_start = true;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--starts-file=", 0) == 0) g_starts_file = arg.substr(14);
    if (arg == "--broken") g_broken = true;
    if (arg == "--scope=test") options.scope = gtest_fork_env::Scope::kTest;
  }
  g_lazy = static_cast<ForkServerEnv*>(
      ::testing::AddGlobalTestEnvironment(new ForkServerEnv(Serve, options)));
  return RUN_ALL_TESTS();
}
