// Warm clones of a program that links gtest_fork_env's server side: the
// sample's own sample_server executable, with its main() and its flags. Its
// ServeHttplib calls ServerContext::Checkpoint(), so under Scope::kTest it
// starts once and every test gets a clone of it; run on its own, it serves
// as usual.
#include <gtest/gtest.h>
#include <httplib.h>

#include <gtest_fork_env/fork_server_env.h>

namespace {

gtest_fork_env::ForkServerEnv* const kv = [] {
  gtest_fork_env::Options options;
  options.name = "kv";
  options.scope = gtest_fork_env::Scope::kTest;
  auto* env = gtest_fork_env::ForkServerEnv::Exec(
      {SAMPLE_SERVER, "--port", "{port}", "--data-file", "kv.log"}, options);
  ::testing::AddGlobalTestEnvironment(env);
  return env;
}();

TEST(ProgramClone, StoresAKey) {
  httplib::Client client(kv->host(), kv->port());
  auto put = client.Put("/v1/kv/greeting", "hello", "application/octet-stream");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 201);  // written to kv.log in this test's data_dir()
}

TEST(ProgramClone, NextTestStartsEmpty) {
  httplib::Client client(kv->host(), kv->port());
  auto answer = client.Get("/v1/kv/greeting");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 404);
}

}  // namespace
