// The sample server over HTTPS (Options::tls): the same API, served by the
// server function with the context's certificate, and by the standalone
// executable with --tls-cert and --tls-key in exec mode.

#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <iterator>
#include <string>

#include "gtest_fork_env/fork_server_env.h"
#include "gtest_fork_env/httplib_client.h"
#include "sample_server_test_support.h"

namespace {

using gtest_fork_env::ForkServerEnv;
using gtest_fork_env::MakeHttplibClient;
using sample_server_test::IsJsonError;

gtest_fork_env::Options HttpsOptions(const std::string& name) {
  gtest_fork_env::Options options = sample_server_test::ServerOptions(name);
  options.tls = true;  // the /healthz probe now speaks HTTPS and verifies
  return options;
}

// Serve() takes the context's certificate when the Config names none.
ForkServerEnv* const forked = static_cast<ForkServerEnv*>(::testing::AddGlobalTestEnvironment(
    new ForkServerEnv([](gtest_fork_env::ServerContext& context) {
      return sample_server::Serve(context, sample_server::Config{});
    }, HttpsOptions("kv-https"))));

ForkServerEnv* const standalone =
    static_cast<ForkServerEnv*>(::testing::AddGlobalTestEnvironment(ForkServerEnv::Exec(
        {SAMPLE_SERVER_EXECUTABLE, "--host", "{host}", "--port", "{port}", "--tls-cert",
         "{tls_cert}", "--tls-key", "{tls_key}"},
        HttpsOptions("kv-https-exec"))));

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

TEST(SampleServerHttps, PutGetDeleteRoundTrip) {
  httplib::Client client = MakeHttplibClient(*forked);
  auto put = client.Put("/v1/kv/secret", "over tls", "application/octet-stream");
  ASSERT_TRUE(put) << httplib::to_string(put.error());
  EXPECT_EQ(put->status, 201);
  auto get = client.Get("/v1/kv/secret");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, "over tls");
  auto del = client.Delete("/v1/kv/secret");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 204);
  auto gone = client.Get("/v1/kv/secret");
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 404);
  EXPECT_TRUE(IsJsonError(gone->body, "not_found"));
}

TEST(SampleServerHttps, StandaloneExecutableServesHttpsWithItsFlags) {
  httplib::Client client = MakeHttplibClient(*standalone);
  auto put = client.Put("/v1/kv/flag", "from exec mode", "application/octet-stream");
  ASSERT_TRUE(put) << httplib::to_string(put.error());
  EXPECT_EQ(put->status, 201);
  auto get = client.Get("/v1/kv/flag");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->body, "from exec mode");
  // It announces the address as a client must write it.
  EXPECT_NE(ReadFile(standalone->log_path()).find("listening on " + standalone->url() + "\n"),
            std::string::npos)
      << ReadFile(standalone->log_path());
}

TEST(SampleServerHttps, PlainHttpGetsNoAnswer) {
  httplib::Client plain(standalone->host(), standalone->port());
  plain.set_connection_timeout(std::chrono::seconds(5));
  plain.set_read_timeout(std::chrono::seconds(5));
  auto answer = plain.Get("/healthz");
  EXPECT_FALSE(answer && answer->status == 200);
}

TEST(SampleServerHttps, ClientWithoutTheCaIsRefused) {
  httplib::Client client(forked->url());
  client.enable_server_certificate_verification(true);
  client.set_connection_timeout(std::chrono::seconds(5));
  auto answer = client.Get("/healthz");
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error(), httplib::Error::SSLServerVerification);
}

}  // namespace
