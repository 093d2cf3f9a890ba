// Exec mode over HTTPS: a program of its own gets the test certificate through
// the {tls_cert}, {tls_key} and {ca_cert} placeholders. Here, OpenSSL's test
// server (docs/https.md).

#include <gtest/gtest.h>
#include <httplib.h>

#include "gtest_fork_env/fork_server_env.h"
#include "gtest_fork_env/httplib_client.h"

namespace {

gtest_fork_env::ForkServerEnv* const s_server = [] {
  gtest_fork_env::Options options;
  options.name = "s_server";
  options.tls = true;
  auto* env = gtest_fork_env::ForkServerEnv::Exec(
      {"openssl", "s_server", "-www", "-accept", "{host}:{port}",
       "-cert", "{tls_cert}", "-key", "{tls_key}"},
      options);
  ::testing::AddGlobalTestEnvironment(env);
  return env;
}();

TEST(ExecHttps, OpenSslServerAnswersWithTheTestCertificate) {
  httplib::Client client = gtest_fork_env::MakeHttplibClient(*s_server);
  auto answer = client.Get("/");
  ASSERT_TRUE(answer) << httplib::to_string(answer.error());
  EXPECT_EQ(answer->status, 200);
}

}  // namespace
