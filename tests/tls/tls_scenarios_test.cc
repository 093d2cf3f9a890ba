// HTTPS failures and clean-up, checked from outside: each test runs
// tls_scenario as a subprocess and looks at its exit, its output and the
// file system.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "support/subprocess.h"

namespace {

using std::chrono::milliseconds;
using test_support::RunOptions;
using test_support::RunResult;
using ::testing::HasSubstr;
using ::testing::Not;

// A TMPDIR for one scenario run (its TLS directory and the logs that failed
// runs keep go there), removed at the end of the test: after its checks.
struct ScenarioTmpDir {
  ScenarioTmpDir() {
    char pattern[] = "/tmp/tls-scenario-XXXXXX";
    if (mkdtemp(pattern)) path = pattern;
  }
  ~ScenarioTmpDir() {
    std::error_code ignored;
    if (!path.empty()) std::filesystem::remove_all(path, ignored);
  }
  std::string path;
};

RunResult RunScenario(const std::string& scenario, const ScenarioTmpDir& tmp,
                      RunOptions options = {}) {
  options.env.push_back("TLS_SCENARIO=" + scenario);
  options.env.push_back("TMPDIR=" + tmp.path);
  options.env.push_back("TEST_TMPDIR=" + tmp.path);  // which the library prefers (under Bazel)
  options.timeout = milliseconds(30000);
  return test_support::Run({TLS_SCENARIO, test_support::UniqueMarker()}, options);
}

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

TEST(TlsCleanUp, NoKeyMaterialLeftAfterTheBinaryEnds) {
  ScenarioTmpDir tmp;
  RunResult result = RunScenario("ok", tmp);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const std::string dir = test_support::ValueAfter(result.output, "TLS_DIR");
  ASSERT_THAT(dir, HasSubstr(tmp.path + "/gtest_fork_env-tls-"));
  EXPECT_FALSE(Exists(dir)) << dir;
}

TEST(TlsCleanUp, NoKeyMaterialLeftAfterTheBinaryIsKilled) {
  RunOptions options;
  options.env = {"TLS_SLEEP=1"};
  std::string dir;
  options.kill_when = [&dir](const std::string& output) {
    size_t at = output.find("TLS_DIR=");
    if (at == std::string::npos || output.find('\n', at) == std::string::npos) return false;
    dir = test_support::ValueAfter(output, "TLS_DIR");
    return Exists(dir + "/server.key");  // the material exists when it dies
  };
  ScenarioTmpDir tmp;
  RunResult result = RunScenario("ok", tmp, options);
  EXPECT_EQ(result.signal, 9) << result.output;
  ASSERT_THAT(dir, HasSubstr(tmp.path + "/gtest_fork_env-tls-"));
  // The watchdog removes it once it sees the binary gone (after ending the
  // server's group, which takes about 100 ms).
  EXPECT_TRUE(test_support::WaitUntil([&] { return !Exists(dir); }, milliseconds(5000))) << dir;
}

struct Failure {
  const char* scenario;
  const char* what;
  const char* advice;
};

class TlsStartFailure : public ::testing::TestWithParam<Failure> {};

TEST_P(TlsStartFailure, SaysWhatIsWrongAndWhatToDo) {
  const Failure& failure = GetParam();
  ScenarioTmpDir tmp;
  RunResult result = RunScenario(failure.scenario, tmp);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("[  FAILED  ]"));
  EXPECT_THAT(result.output, Not(HasSubstr("[  SKIPPED ]")));
  EXPECT_THAT(result.output, HasSubstr("server 'tls-" + std::string(failure.scenario) + "'"));
  EXPECT_THAT(result.output, HasSubstr(failure.what));
  EXPECT_THAT(result.output, HasSubstr(std::string("What to do: ") + failure.advice));
}

INSTANTIATE_TEST_SUITE_P(
    Tls, TlsStartFailure,
    ::testing::Values(
        Failure{"plain_http", "does not speak TLS on this port", "the server has Options::tls"},
        Failure{"bad_cert", "its TLS certificate or key could not be loaded", "read its log"},
        Failure{"other_ca_cert", "failed verification against the test CA",
                "serve the certificate and key the library made"},
        Failure{"wants_client_cert", "requires a client certificate",
                "turn on Options::tls_client_auth"},
        Failure{"other_client_ca", "refused the client certificate",
                "make the server verify client certificates against context.tls_ca_path()"}),
    [](const ::testing::TestParamInfo<Failure>& info) { return std::string(info.param.scenario); });

}  // namespace

namespace {

// The core library does not link OpenSSL (loading it costs every process
// start about 6 ms); it loads it only when a server has Options::tls.
std::string LibsslLoaded(bool with_tls) {
  RunOptions options;
  if (with_tls) options.env = {"WITH_TLS=1"};
  options.timeout = milliseconds(30000);
  RunResult result = test_support::Run({CORE_ONLY_SCENARIO}, options);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  return test_support::ValueAfter(result.output, "LIBSSL_LOADED");
}

TEST(LazyOpenSsl, NotLoadedWithoutTls) { EXPECT_EQ(LibsslLoaded(false), "no"); }

TEST(LazyOpenSsl, LoadedWhenAServerHasTls) { EXPECT_EQ(LibsslLoaded(true), "yes"); }

}  // namespace
