// Mutual TLS: the server requires a client certificate signed by the test
// CA, and the client made by MakeHttplibClient presents one (docs/https.md).

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include "gtest_fork_env/fork_server_env.h"
#include "gtest_fork_env/httplib_client.h"
#include "gtest_fork_env/httplib_server.h"

namespace {

int ServeMutualTls(gtest_fork_env::ServerContext& context) {
  // The third argument makes httplib require a client certificate signed by
  // that CA.
  httplib::SSLServer server(context.tls_cert_path().c_str(), context.tls_key_path().c_str(),
                            context.tls_ca_path().c_str());
  server.Get("/whoami", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("a client with a certificate", "text/plain");
  });
  return gtest_fork_env::ServeHttplib(server, context);
}

gtest_fork_env::ForkServerEnv* const server = [] {
  gtest_fork_env::Options options;
  options.tls = true;
  options.tls_client_auth = true;  // also make a client certificate
  auto* env = new gtest_fork_env::ForkServerEnv(ServeMutualTls, options);
  ::testing::AddGlobalTestEnvironment(env);
  return env;
}();

TEST(MutualTls, AcceptsTheTestClientCertificate) {
  httplib::Client client = gtest_fork_env::MakeHttplibClient(*server);
  auto answer = client.Get("/whoami");
  ASSERT_TRUE(answer) << httplib::to_string(answer.error());
  EXPECT_EQ(answer->status, 200);
}

TEST(MutualTls, RefusesAClientWithoutACertificate) {
  signal(SIGPIPE, SIG_IGN);  // the server hangs up on it; MakeHttplibClient does this too
  httplib::Client client(server->url());
  client.set_ca_cert_path(server->ca_cert_path());
  auto answer = client.Get("/whoami");
  EXPECT_FALSE(answer && answer->status == 200);
}

}  // namespace
