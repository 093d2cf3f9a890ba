// A test binary with one HTTPS server, run as a subprocess by
// tls_scenarios_test. TLS_SCENARIO picks the server:
//   ok                   serves HTTPS with the test certificate;
//   plain_http           serves plain HTTP on the TLS port;
//   bad_cert             cannot load its certificate;
//   other_ca_cert        serves a certificate of another CA;
//   wants_client_cert    requires a client certificate, tls_client_auth off;
//   other_client_ca      tls_client_auth on, but verifies clients against
//                        another CA.
// The test prints "TLS_DIR=<dir>"; with TLS_SLEEP it then sleeps (to be
// killed).

#include <gtest/gtest.h>
#include <httplib.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "gtest_fork_env/fork_server_env.h"
#include "gtest_fork_env/httplib_server.h"
#include "tls_material.h"

namespace {

std::string Scenario() {
  const char* scenario = std::getenv("TLS_SCENARIO");
  return scenario ? scenario : "ok";
}

// Certificates of another CA, made before the server starts.
std::string g_other_dir;

int Serve(gtest_fork_env::ServerContext& context) {
  const std::string scenario = Scenario();
  std::string cert = context.tls_cert_path(), key = context.tls_key_path();
  const char* client_ca = nullptr;
  if (scenario == "bad_cert") cert = "/nonexistent/server.pem";
  if (scenario == "other_ca_cert") {
    cert = g_other_dir + "/server.pem";
    key = g_other_dir + "/server.key";
  }
  const std::string other_ca = g_other_dir + "/ca.pem";
  if (scenario == "wants_client_cert") client_ca = context.tls_ca_path().c_str();
  if (scenario == "other_client_ca") client_ca = other_ca.c_str();
  if (scenario == "plain_http") {
    httplib::Server plain;
    plain.Get("/", [](const httplib::Request&, httplib::Response& r) { r.set_content("x", "text/plain"); });
    return gtest_fork_env::ServeHttplib(plain, context);
  }
  httplib::SSLServer server(cert.c_str(), key.c_str(), client_ca);
  server.Get("/", [](const httplib::Request&, httplib::Response& r) { r.set_content("x", "text/plain"); });
  return gtest_fork_env::ServeHttplib(server, context);
}

}  // namespace

// The listener in main() prints the directory before it runs.
TEST(TlsScenario, Runs) { SUCCEED(); }

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  // Under TMPDIR, which tls_scenarios_test makes for each run and removes,
  // so that a killed run leaves nothing either.
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp ? tmp : "/tmp") + "/gtest_fork_env-scenario-other-XXXXXX";
  if (mkdtemp(pattern.data())) {
    g_other_dir = pattern;
    gtest_fork_env::detail::MakeTlsMaterial(g_other_dir, {}, /*client_cert=*/true);
  }
  gtest_fork_env::Options options;
  options.name = "tls-" + Scenario();
  options.tls = true;
  options.tls_client_auth = Scenario() == "other_client_ca";
  options.start_timeout = std::chrono::milliseconds(1500);
  auto* env = new gtest_fork_env::ForkServerEnv(Serve, options);
  ::testing::AddGlobalTestEnvironment(env);
  struct Printer : ::testing::EmptyTestEventListener {
    explicit Printer(gtest_fork_env::ForkServerEnv* e) : env(e) {}
    void OnTestStart(const ::testing::TestInfo&) override {
      std::printf("TLS_DIR=%s\n",
                  std::filesystem::path(env->ca_cert_path()).parent_path().c_str());
      std::fflush(stdout);
      if (std::getenv("TLS_SLEEP")) sleep(30);
    }
    gtest_fork_env::ForkServerEnv* env;
  };
  ::testing::UnitTest::GetInstance()->listeners().Append(new Printer(env));
  const int code = RUN_ALL_TESTS();
  std::filesystem::remove_all(g_other_dir);
  return code;
}
