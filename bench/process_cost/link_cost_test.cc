// The link-cost rows of process_cost_bench: one trivial test, built four
// times (bench/CMakeLists.txt): with GoogleTest only, with the core library
// (no httplib), with the core library and spdlog (what the core cost while it
// logged through spdlog), and with the httplib adapter. The library is referenced in a
// branch that never runs, so the binaries load what a user's would and do
// nothing else.

#include <gtest/gtest.h>

#if defined(LINK_COST_SPDLOG)
#include <spdlog/spdlog.h>
#endif

#if defined(LINK_COST_CORE) || defined(LINK_COST_HTTPLIB)
#include <gtest_fork_env/fork_server_env.h>
#endif
#if defined(LINK_COST_HTTPLIB)
#include <gtest_fork_env/httplib_server.h>
#endif

TEST(LinkCost, Trivial) {}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc > 1000) {  // never: only so that the linker keeps the library
#if defined(LINK_COST_HTTPLIB)
    ::testing::AddGlobalTestEnvironment(
        new gtest_fork_env::ForkServerEnv([](gtest_fork_env::ServerContext& context) {
          httplib::Server server;
          return gtest_fork_env::ServeHttplib(server, context);
        }));
#elif defined(LINK_COST_CORE)
#if defined(LINK_COST_SPDLOG)
    spdlog::info("never");
#endif
    ::testing::AddGlobalTestEnvironment(new gtest_fork_env::ForkServerEnv(
        [](gtest_fork_env::ServerContext&) { return 0; }));
#endif
  }
  return RUN_ALL_TESTS();
}
