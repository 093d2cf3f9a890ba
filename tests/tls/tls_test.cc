// HTTPS servers with Options::tls, checked with real clients: httplib,
// curl, and OpenSSL's own s_server in exec mode. Also the one URL rule
// (FormatUrl) with an IPv6 host in fork and exec mode.

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "gtest_fork_env/fork_server_env.h"
#include "gtest_fork_env/httplib_client.h"
#include "support/subprocess.h"
#include "tls/tls_servers.h"
#include "tls_material.h"

namespace {

using gtest_fork_env::ForkServerEnv;
using gtest_fork_env::MakeHttplibClient;
using gtest_fork_env::Options;
using gtest_fork_env::ServerContext;

ForkServerEnv* Add(ForkServerEnv::ServerMain main, Options options) {
  auto* env = new ForkServerEnv(std::move(main), std::move(options));
  ::testing::AddGlobalTestEnvironment(env);
  return env;
}

Options Tls(const std::string& name) {
  Options options;
  options.name = name;
  options.tls = true;
  return options;
}

ForkServerEnv* const https = Add(tls_test::ServeHelloTls, Tls("https"));

ForkServerEnv* const mutual = [] {
  Options options = Tls("mutual");
  options.tls_client_auth = true;
  return Add(tls_test::ServeRequiringClientCert, options);
}();

ForkServerEnv* const https6 = [] {
  Options options = Tls("https6");
  options.host = "::1";
  options.env = {"SELF_URL={url}"};
  return Add(tls_test::ServeHelloTls, options);
}();

ForkServerEnv* const reexec = [] {
  Options options = Tls("reexec");
  options.spawn_mode = gtest_fork_env::SpawnMode::kReexec;
  return Add(tls_test::ServeHelloTls, options);
}();

// Defect 1 of issue 12: {url} with an IPv6 host, fork mode.
ForkServerEnv* const plain6 = [] {
  Options options;
  options.name = "plain6";
  options.host = "::1";
  options.env = {"SELF_URL={url}"};
  return Add(tls_test::ServeHelloTls, options);
}();

// The same in exec mode: the program prints {url} before it serves.
ForkServerEnv* const exec6 = [] {
  Options options;
  options.name = "exec6";
  options.host = "::1";
  auto* env = ForkServerEnv::Exec(
      {"/bin/sh", "-c",
       "echo \"url={url}\"; exec python3 -m http.server {port} --bind {host} --directory /"},
      options);
  ::testing::AddGlobalTestEnvironment(env);
  return env;
}();

// A program no one here wrote: OpenSSL's test server, given the certificate
// through the placeholders.
ForkServerEnv* const s_server = [] {
  Options options = Tls("s_server");
  auto* env = ForkServerEnv::Exec({"openssl", "s_server", "-www", "-accept", "{host}:{port}",
                                   "-cert", "{tls_cert}", "-key", "{tls_key}"},
                                  options);
  ::testing::AddGlobalTestEnvironment(env);
  return env;
}();

// nginx with ssl: it reads its port and certificate from a configuration
// file, so a small shell step writes one from the placeholders, in a
// directory of this test process that the environment below removes.
const std::string nginx_dir = "/tmp/gtest_fork_env-nginx-" + std::to_string(getpid());

// Made only when the environments are set up (not by --gtest_list_tests);
// registered before the nginx server, so set up before it and torn down
// after it.
class NginxDir : public ::testing::Environment {
  void SetUp() override { std::filesystem::create_directory(nginx_dir); }
  void TearDown() override { std::filesystem::remove_all(nginx_dir); }
};
const bool nginx_dir_registered = (::testing::AddGlobalTestEnvironment(new NginxDir), true);

ForkServerEnv* const nginx = [] {
  const char* script =
      "d=\"$1\"; printf 'pid %s/nginx.pid;\\nerror_log stderr notice;\\nevents {}\\n"
      "http {\\n access_log off;\\n server {\\n  listen %s:%s ssl;\\n  ssl_certificate %s;\\n"
      "  ssl_certificate_key %s;\\n  location / { return 200 \"hello from nginx\"; }\\n }\\n}\\n' "
      "\"$d\" \"$2\" \"$3\" \"$4\" \"$5\" > \"$d/nginx.conf\" && "
      "exec \"$6\" -e stderr -p \"$d\" -c \"$d/nginx.conf\" -g 'daemon off;'";
  auto* env = ForkServerEnv::Exec(
      {"/bin/sh", "-c", script, "sh", nginx_dir, "{host}", "{port}", "{tls_cert}", "{tls_key}",
       NGINX},
      Tls("nginx"));
  ::testing::AddGlobalTestEnvironment(env);
  return env;
}();

test_support::RunResult Curl(std::vector<std::string> args) {
  std::vector<std::string> argv = {"/usr/bin/curl", "--silent", "--show-error",
                                   "--max-time", "20"};
  argv.insert(argv.end(), args.begin(), args.end());
  return test_support::Run(argv);
}

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

TEST(Https, UrlSaysHttps) {
  EXPECT_EQ(https->url(), "https://127.0.0.1:" + std::to_string(https->port()));
  EXPECT_FALSE(https->ca_cert_path().empty());
  EXPECT_TRUE(https->client_cert_path().empty());  // no tls_client_auth
}

TEST(Https, ClientThatTrustsTheCaSucceeds) {
  httplib::Client client = MakeHttplibClient(*https);
  auto answer = client.Get("/hello");
  ASSERT_TRUE(answer) << httplib::to_string(answer.error());
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(answer->body, "hello from https");
}

TEST(Https, ClientThatDoesNotTrustTheCaFailsVerification) {
  httplib::Client client(https->url());  // the system's CAs only
  client.enable_server_certificate_verification(true);
  client.set_connection_timeout(std::chrono::seconds(5));
  auto answer = client.Get("/hello");
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error(), httplib::Error::SSLServerVerification);
}

TEST(Https, CurlWithTheCaSucceedsAndPlainCurlFails) {
  auto trusted = Curl({"--cacert", https->ca_cert_path(), https->url() + "/hello"});
  EXPECT_EQ(trusted.exit_code, 0) << trusted.output;
  EXPECT_EQ(trusted.output, "hello from https");
  auto untrusted = Curl({https->url() + "/hello"});
  EXPECT_EQ(untrusted.exit_code, 60) << untrusted.output;  // peer certificate cannot be verified
  EXPECT_NE(untrusted.output.find("certificate"), std::string::npos) << untrusted.output;
}

TEST(Https, PlainHttpIsNotServed) {
  auto plain = Curl({"http://127.0.0.1:" + std::to_string(https->port()) + "/hello"});
  EXPECT_NE(plain.exit_code, 0) << plain.output;
  EXPECT_EQ(plain.output.find("hello from"), std::string::npos) << plain.output;
}

TEST(Https, KeyFilesAreReadableByTheirOwnerOnly) {
  const std::string dir = std::filesystem::path(https->ca_cert_path()).parent_path();
  struct stat info;
  ASSERT_EQ(stat(dir.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);
  ASSERT_EQ(stat((dir + "/server.key").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  // No CA key on disk: nothing can sign another certificate with it.
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    EXPECT_NE(entry.path().filename(), "ca.key");
  }
}

TEST(Https, CertificateNamesCoverTheLoopbackAddresses) {
  auto text = test_support::Run({"/usr/bin/openssl", "x509", "-noout", "-ext", "subjectAltName",
                                 "-in", std::filesystem::path(https->ca_cert_path())
                                            .replace_filename("server.pem")});
  EXPECT_NE(text.output.find("IP Address:127.0.0.1"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("IP Address:0:0:0:0:0:0:0:1"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("DNS:localhost"), std::string::npos) << text.output;
}

TEST(MutualTls, ClientWithTheCertificateIsAccepted) {
  ASSERT_FALSE(mutual->client_cert_path().empty());
  httplib::Client client = MakeHttplibClient(*mutual);
  auto answer = client.Get("/hello");
  ASSERT_TRUE(answer) << httplib::to_string(answer.error());
  EXPECT_EQ(answer->body, "hello from mutual");
  auto by_curl = Curl({"--cacert", mutual->ca_cert_path(), "--cert", mutual->client_cert_path(),
                       "--key", mutual->client_key_path(), mutual->url() + "/hello"});
  EXPECT_EQ(by_curl.output, "hello from mutual");
}

TEST(MutualTls, ClientWithoutACertificateIsRefused) {
  signal(SIGPIPE, SIG_IGN);  // see MakeHttplibClient
  httplib::Client client(mutual->url());
  client.set_ca_cert_path(mutual->ca_cert_path());
  client.enable_server_certificate_verification(true);
  client.set_connection_timeout(std::chrono::seconds(5));
  client.set_read_timeout(std::chrono::seconds(5));
  auto answer = client.Get("/hello");
  EXPECT_FALSE(answer && answer->status == 200);
  auto by_curl = Curl({"--cacert", mutual->ca_cert_path(), mutual->url() + "/hello"});
  EXPECT_NE(by_curl.exit_code, 0) << by_curl.output;
  EXPECT_EQ(by_curl.output.find("hello from"), std::string::npos) << by_curl.output;
}

TEST(MutualTls, CertificateFromAnotherCaIsRefused) {
  char dir[] = "/tmp/gtest_fork_env-other-ca-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string other = dir;
  struct RemoveAtEnd {
    ~RemoveAtEnd() { std::filesystem::remove_all(path); }
    std::string path;
  } remove_at_end{other};
  ASSERT_EQ(gtest_fork_env::detail::MakeTlsMaterial(dir, {}, /*client_cert=*/true), "");
  signal(SIGPIPE, SIG_IGN);  // see MakeHttplibClient
  httplib::Client client(mutual->url(), other + "/client.pem", other + "/client.key");
  client.set_ca_cert_path(mutual->ca_cert_path());
  client.enable_server_certificate_verification(true);
  client.set_connection_timeout(std::chrono::seconds(5));
  client.set_read_timeout(std::chrono::seconds(5));
  auto answer = client.Get("/hello");
  EXPECT_FALSE(answer && answer->status == 200);
  auto by_curl = Curl({"--cacert", mutual->ca_cert_path(), "--cert", other + "/client.pem",
                       "--key", other + "/client.key", mutual->url() + "/hello"});
  EXPECT_NE(by_curl.exit_code, 0) << by_curl.output;
  EXPECT_EQ(by_curl.output.find("hello from"), std::string::npos) << by_curl.output;
}

TEST(Ipv6, TlsServerOnLoopbackSix) {
  EXPECT_EQ(https6->url(), "https://[::1]:" + std::to_string(https6->port()));
  httplib::Client client = MakeHttplibClient(*https6);
  // In fork and re-exec mode the server picks its port after {url} was
  // expanded, so the placeholder says port 0 there; the form is what counts.
  auto answer = client.Get("/env?name=SELF_URL");
  ASSERT_TRUE(answer) << httplib::to_string(answer.error());
  EXPECT_EQ(answer->body, "https://[::1]:0");
  auto by_curl = Curl({"--cacert", https6->ca_cert_path(), https6->url() + "/hello"});
  EXPECT_EQ(by_curl.output, "hello from https6");
}

TEST(ReexecMode, ServerGetsTheCertificateThroughTheEnvironment) {
  httplib::Client client = MakeHttplibClient(*reexec);
  auto answer = client.Get("/hello");
  ASSERT_TRUE(answer) << httplib::to_string(answer.error());
  EXPECT_EQ(answer->body, "hello from reexec");
}

TEST(ExecMode, OpenSslServerServesWithTheTestCertificate) {
  auto by_curl = Curl({"--cacert", s_server->ca_cert_path(), s_server->url() + "/"});
  EXPECT_EQ(by_curl.exit_code, 0) << by_curl.output;
  EXPECT_NE(by_curl.output.find("s_server"), std::string::npos) << by_curl.output;
  httplib::Client client = MakeHttplibClient(*s_server);
  auto answer = client.Get("/");
  ASSERT_TRUE(answer) << httplib::to_string(answer.error());
  EXPECT_EQ(answer->status, 200);
}

TEST(ExecMode, NginxServesWithTheTestCertificate) {
  auto by_curl = Curl({"--cacert", nginx->ca_cert_path(), nginx->url() + "/"});
  EXPECT_EQ(by_curl.exit_code, 0) << by_curl.output;
  EXPECT_EQ(by_curl.output, "hello from nginx");
  auto untrusted = Curl({nginx->url() + "/"});
  EXPECT_EQ(untrusted.exit_code, 60) << untrusted.output;
}

// Defect 1 of issue 12: one URL rule for url() and {url}, IPv6 in brackets.
TEST(Url, ForkModePlaceholderPutsIpv6InBrackets) {
  EXPECT_EQ(plain6->url(), "http://[::1]:" + std::to_string(plain6->port()));
  httplib::Client client = MakeHttplibClient(*plain6);
  auto answer = client.Get("/env?name=SELF_URL");
  ASSERT_TRUE(answer) << httplib::to_string(answer.error());
  EXPECT_EQ(answer->body, "http://[::1]:0");  // port: see Ipv6.TlsServerOnLoopbackSix
  EXPECT_TRUE(plain6->ca_cert_path().empty());
}

TEST(Url, ExecModePlaceholderPutsIpv6InBrackets) {
  EXPECT_NE(ReadFile(exec6->log_path()).find("url=" + exec6->url() + "\n"), std::string::npos)
      << ReadFile(exec6->log_path());
  EXPECT_EQ(exec6->url(), "http://[::1]:" + std::to_string(exec6->port()));
}

}  // namespace
