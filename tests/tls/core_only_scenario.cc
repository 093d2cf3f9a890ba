// A test binary linked with the core library only (no httplib, no OpenSSL),
// run by tls_scenarios_test: with WITH_TLS set its server is OpenSSL's
// s_server over Options::tls, otherwise python3's plain http.server. Its test
// prints whether libssl is mapped into the test process.

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "gtest_fork_env/fork_server_env.h"

TEST(CoreOnly, SaysWhetherLibsslIsLoaded) {
  std::ifstream maps("/proc/self/maps");
  const std::string text((std::istreambuf_iterator<char>(maps)), std::istreambuf_iterator<char>());
  std::printf("LIBSSL_LOADED=%s\n", text.find("libssl.so") != std::string::npos ? "yes" : "no");
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  gtest_fork_env::Options options;
  options.tls = std::getenv("WITH_TLS") != nullptr;
  std::vector<std::string> argv_tls = {"openssl", "s_server", "-www", "-accept", "{host}:{port}",
                                       "-cert", "{tls_cert}", "-key", "{tls_key}"};
  std::vector<std::string> argv_plain = {"python3", "-m", "http.server", "{port}", "--bind",
                                         "{host}"};
  ::testing::AddGlobalTestEnvironment(
      gtest_fork_env::ForkServerEnv::Exec(options.tls ? argv_tls : argv_plain, options));
  return RUN_ALL_TESTS();
}
