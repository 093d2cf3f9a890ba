#include <gtest/gtest.h>
#include <httplib.h>
#include "gtest_fork_env/fork_server_env.h"
#include "sample_server/serve.h"

// The README's walk through a test binary of the sample server: these are
// the lines it shows, in this order. (The includes above stand first, as it
// shows them; the full suite is tests/sample_server/sample_server_api_test.cc.)
#include "sample_server_test_support.h"

namespace {

using sample_server_test::MakeClient;

int ServeKv(gtest_fork_env::ServerContext& context) {
  return sample_server::Serve(context, sample_server::Config());
}

gtest_fork_env::Options KvOptions() {
  gtest_fork_env::Options options;
  options.name = "kv";
  options.probe = gtest_fork_env::Probe::HttpGet("/healthz");
  return options;
}

gtest_fork_env::ForkServerEnv* const server = static_cast<gtest_fork_env::ForkServerEnv*>(
    ::testing::AddGlobalTestEnvironment(new gtest_fork_env::ForkServerEnv(ServeKv, KvOptions())));

TEST(SampleServerApi, PutCreatesThenReplaces) {
  auto client = MakeClient(*server);
  auto created = client->Put("/v1/kv/color", "red", "text/plain");
  ASSERT_TRUE(created) << created.error();
  EXPECT_EQ(created->status, 201);

  auto replaced = client->Put("/v1/kv/color", "blue", "text/plain");
  ASSERT_TRUE(replaced) << replaced.error();
  EXPECT_EQ(replaced->status, 200);
  EXPECT_EQ(client->Get("/v1/kv/color")->body, "blue");
}

}  // namespace
