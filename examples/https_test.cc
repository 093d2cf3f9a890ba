// HTTPS with one option: a throwaway CA and a server certificate for this
// test binary, and a client that trusts them (docs/https.md).

#include <gtest/gtest.h>
#include <httplib.h>

#include "gtest_fork_env/fork_server_env.h"
#include "gtest_fork_env/httplib_client.h"
#include "gtest_fork_env/httplib_server.h"

namespace {

int ServeHttps(gtest_fork_env::ServerContext& context) {
  httplib::SSLServer server(context.tls_cert_path().c_str(), context.tls_key_path().c_str());
  server.Get("/hello", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("hello over TLS", "text/plain");
  });
  return gtest_fork_env::ServeHttplib(server, context);
}

gtest_fork_env::ForkServerEnv* const server = [] {
  gtest_fork_env::Options options;
  options.tls = true;
  auto* env = new gtest_fork_env::ForkServerEnv(ServeHttps, options);
  ::testing::AddGlobalTestEnvironment(env);
  return env;
}();

TEST(Https, AnswersAClientThatTrustsTheTestCa) {
  httplib::Client client = gtest_fork_env::MakeHttplibClient(*server);
  auto answer = client.Get("/hello");
  ASSERT_TRUE(answer) << httplib::to_string(answer.error());
  EXPECT_EQ(answer->body, "hello over TLS");
}

TEST(Https, RefusesAClientThatTrustsOnlyTheSystemCas) {
  httplib::Client client(server->url());  // "https://127.0.0.1:<port>"
  client.enable_server_certificate_verification(true);
  auto answer = client.Get("/hello");
  EXPECT_EQ(answer.error(), httplib::Error::SSLServerVerification);
}

}  // namespace
