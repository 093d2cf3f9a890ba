// The real sample_server executable, in exec mode under Scope::kTest: a
// program with its own main() and flags that links only the server side.
// Its ServeHttplib reaches Checkpoint(), so it starts once and every test
// gets a clone of it, with the same port, a data file of its own and its own
// pid. One process for all the tests (BATCH SUITE).

#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "gtest_fork_env/fork_server_env.h"
#include "sample_server_test_support.h"

namespace {

using gtest_fork_env::ForkServerEnv;

ForkServerEnv* const kv = [] {
  gtest_fork_env::Options options = sample_server_test::ServerOptions("kv-exec-clone");
  options.scope = gtest_fork_env::Scope::kTest;
  auto* env = ForkServerEnv::Exec({SAMPLE_SERVER_EXECUTABLE, "--host", "{host}", "--port",
                                   "{port}", "--data-file", "kv.log"},
                                  options);
  ::testing::AddGlobalTestEnvironment(env);
  return env;
}();

std::set<pid_t> g_pids;
std::set<uint16_t> g_ports;
size_t g_runs = 0;

httplib::Client Client() {
  httplib::Client client(kv->host(), kv->port());
  client.set_read_timeout(5, 0);
  return client;
}

// How often the program started: its log says "starting on" once per start.
size_t Startups() {
  std::ifstream log(kv->log_path());
  size_t count = 0;
  for (std::string line; std::getline(log, line);) {
    count += line.find("server 'sample_server' starting on") != std::string::npos;
  }
  return count;
}

void StoreAndSeeOnlyOwnKeys(const std::string& key) {
  ++g_runs;
  g_pids.insert(kv->pid());
  g_ports.insert(kv->port());
  auto before = Client().Get("/v1/kv/first");
  ASSERT_TRUE(before);
  EXPECT_EQ(before->status, 404) << "a key of an earlier test";
  auto put = Client().Put("/v1/kv/" + key, "value of " + key, "application/octet-stream");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 201);
  // The clone's data file is in its own data directory (--data-file is
  // relative, so it goes in ServerContext::data_dir()).
  EXPECT_TRUE(std::filesystem::exists(kv->data_dir() + "/kv.log")) << kv->data_dir();
}

TEST(SampleServerExecClone, First) { StoreAndSeeOnlyOwnKeys("first"); }
TEST(SampleServerExecClone, Second) { StoreAndSeeOnlyOwnKeys("second"); }
TEST(SampleServerExecClone, Third) { StoreAndSeeOnlyOwnKeys("third"); }

TEST(SampleServerExecClone, RestartKeepsTheTestsDataFile) {
  auto put = Client().Put("/v1/kv/kept", "across restart", "application/octet-stream");
  ASSERT_TRUE(put);
  const pid_t before = kv->pid();
  kv->Restart();
  EXPECT_NE(kv->pid(), before);
  auto get = Client().Get("/v1/kv/kept");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, "across restart");
}

// Last in the suite's order: every test before it got a clone of one start
// of the program.
TEST(SampleServerExecClone, ZzTheProgramStartedOnce) {
  EXPECT_EQ(Startups(), 1u);
  EXPECT_EQ(g_pids.size(), g_runs) << "a clone of its own for each test";
  EXPECT_LE(g_ports.size(), 1u) << "one port for all";
}

}  // namespace
