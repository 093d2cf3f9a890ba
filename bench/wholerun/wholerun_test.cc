// The suite behind the whole-run comparison under ctest (bench/run.sh): 1000
// identical small integration tests of the sample server, each storing its
// own key (PUT /v1/kv/kNNNN) and reading it back (GET). Tests are named
// Kv.Put0000 .. Kv.Put0999, so a gtest filter takes the first 10, 100 or
// 1000 of them.
//
// Where the server comes from is the only thing that changes:
// - by default, a ForkServerEnv forks a fresh sample server for this test
//   process (with gtest_discover_tests: one server per test);
// - with WHOLERUN_SHARED_STATE=<file>, the tests use the one shared server
//   whose port wholerun_shared_ctl wrote to that file (a ctest fixture starts
//   it once before all tests and stops it after).
// - with WHOLERUN_SCOPE=test (test_kill: and Options::kill_passed_clones),
//   the ForkServerEnv runs under Scope::kTest: one
//   process, and each test gets a fresh clone of a warm template. Each test
//   then also checks that the key of the test before it is absent, so the
//   run proves that every test saw a fresh server.
// - with WHOLERUN_UNUSED_SERVER=eager|lazy, a second server (python3 -m
//   http.server) that no test uses, started in SetUp or lazily (never).

#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <gtest_fork_env/fork_server_env.h>
#include <sample_server/serve.h>

namespace {

std::string g_host = "127.0.0.1";
int g_port = 0;
bool g_fresh_per_test = false;  // WHOLERUN_SCOPE=test

// The shared server: nothing to start, only its port to read.
class SharedServerEnv : public ::testing::Environment {
 public:
  explicit SharedServerEnv(std::string state_file) : state_file_(std::move(state_file)) {}
  void SetUp() override {
    std::ifstream in(state_file_);
    in >> g_port;
    if (g_port <= 0) {
      ADD_FAILURE() << "no shared server: cannot read a port from " << state_file_
                    << " (the shared_server_start fixture test writes it)";
    }
  }

 private:
  std::string state_file_;
};

class KvRoundTrip : public ::testing::Test {
 public:
  explicit KvRoundTrip(int index) : index_(index) {}
  void TestBody() override {
    ASSERT_GT(g_port, 0);
    httplib::Client client(g_host, g_port);
    char key[32];
    std::snprintf(key, sizeof key, "k%04d", index_);
    const std::string path = std::string("/v1/kv/") + key;
    if (g_fresh_per_test && index_ > 0) {
      char before[32];
      std::snprintf(before, sizeof before, "/v1/kv/k%04d", index_ - 1);
      auto earlier = client.Get(before);
      ASSERT_TRUE(earlier) << httplib::to_string(earlier.error());
      EXPECT_EQ(earlier->status, 404) << "the server is not fresh: it has " << before;
    }
    const std::string value = "value of " + std::string(key);
    auto put = client.Put(path.c_str(), value, "application/octet-stream");
    ASSERT_TRUE(put) << httplib::to_string(put.error());
    EXPECT_TRUE(put->status == 200 || put->status == 201) << put->status << " " << put->body;
    auto get = client.Get(path.c_str());
    ASSERT_TRUE(get) << httplib::to_string(get.error());
    EXPECT_EQ(get->status, 200);
    EXPECT_EQ(get->body, value);
  }

 private:
  int index_;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  for (int i = 0; i < 1000; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "Put%04d", i);
    ::testing::RegisterTest("Kv", name, nullptr, nullptr, __FILE__, __LINE__,
                            [i]() -> ::testing::Test* { return new KvRoundTrip(i); });
  }
  if (const char* state = std::getenv("WHOLERUN_SHARED_STATE")) {
    ::testing::AddGlobalTestEnvironment(new SharedServerEnv(state));
  } else {
    gtest_fork_env::Options options;
    options.name = "sample";
    const char* scope = std::getenv("WHOLERUN_SCOPE");
    if (scope && (std::string(scope) == "test" || std::string(scope) == "test_kill")) {
      options.scope = gtest_fork_env::Scope::kTest;
      options.kill_passed_clones = std::string(scope) == "test_kill";
      g_fresh_per_test = true;
    }
    auto* env = static_cast<gtest_fork_env::ForkServerEnv*>(::testing::AddGlobalTestEnvironment(
        new gtest_fork_env::ForkServerEnv(
            [](gtest_fork_env::ServerContext& context) {
              return sample_server::Serve(context, sample_server::Config{});
            },
            options)));
    // The port is known only after SetUp; read it in each test through a
    // tiny environment registered after the server's.
    struct PortEnv : ::testing::Environment {
      explicit PortEnv(gtest_fork_env::ForkServerEnv* e) : env(e) {}
      void SetUp() override { g_port = env->port(); }
      gtest_fork_env::ForkServerEnv* env;
    };
    ::testing::AddGlobalTestEnvironment(new PortEnv(env));
  }
  // WHOLERUN_UNUSED_SERVER=eager|lazy: a second server that no test uses, a
  // Python program, started in SetUp (eager) or never, since no test asks
  // for it (Options::lazy_start): what lazy_start saves a test process.
  if (const char* unused = std::getenv("WHOLERUN_UNUSED_SERVER")) {
    gtest_fork_env::Options options;
    options.name = "unused";
    options.lazy_start = std::string(unused) == "lazy";
    ::testing::AddGlobalTestEnvironment(gtest_fork_env::ForkServerEnv::Exec(
        {"python3", "-m", "http.server", "{port}", "--bind", "{host}"}, options));
  }
  return RUN_ALL_TESTS();
}
