// Restart from inside a test: the sample server keeps its data in a file, so
// a value put before Restart() is there after it.
#include <gtest/gtest.h>
#include <httplib.h>

#include <gtest_fork_env/fork_server_env.h>

#include <string>

#include "sample_server/serve.h"
#include "sample_server_test_support.h"

namespace {

// Registered first, so torn down last: removes the data file's directory.
const bool directory_cleanup = (sample_server_test::CleanUpTestDirectory(), true);

gtest_fork_env::ForkServerEnv* const api = sample_server_test::AddSampleServer("api", [] {
  sample_server::Config config;
  config.data_file = sample_server_test::TestDirectory() + "/api.log";
  return config;
});

void Put(const std::string& key, const std::string& value) {
  auto result = sample_server_test::MakeClient(*api)->Put("/v1/kv/" + key, value, "text/plain");
  ASSERT_TRUE(result) << result.error();
  EXPECT_EQ(result->status / 100, 2) << result->body;
}

std::string Get(const std::string& key) {
  auto result = sample_server_test::MakeClient(*api)->Get("/v1/kv/" + key);
  return result ? result->body : "no answer: " + httplib::to_string(result.error());
}

TEST(Persistence, SurvivesARestart) {
  Put("k", "v");
  ASSERT_TRUE(api->Restart());  // SIGTERM, reap, start again on the same port
  EXPECT_EQ(Get("k"), "v");
}

}  // namespace
