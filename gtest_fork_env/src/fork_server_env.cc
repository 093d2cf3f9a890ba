#include "gtest_fork_env/fork_server_env.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "logger.h"
#include "server_instance.h"

// The GoogleTest glue. It knows nothing of processes or HTTP: starting,
// watching and stopping the server is detail::ServerInstance's job.

namespace gtest_fork_env {
namespace {

std::vector<ForkServerEnv*>& Registry() {
  static std::vector<ForkServerEnv*> envs;
  return envs;
}

int NextIndex() {
  static int next = 0;
  return next++;
}

// Records a failure located at "gtest_fork_env:" rather than at a line of
// this file, which would tell the reader nothing.
void ReportFailure(::testing::TestPartResult::Type type, const std::string& message) {
  GTEST_MESSAGE_AT_("gtest_fork_env", -1, message.c_str(), type);
}

std::string TestName(const ::testing::TestInfo& info) {
  return std::string(info.test_suite_name()) + "." + info.name();
}

// In a re-executed copy of the binary: if all environments were set up and
// none of them served, the copy must not go on to run the tests.
class ReexecGuardListener : public ::testing::EmptyTestEventListener {
 public:
  void OnEnvironmentsSetUpEnd(const ::testing::UnitTest&) override {
    std::fprintf(stderr,
                 "gtest_fork_env: this re-executed copy of the test binary found no "
                 "ForkServerEnv to run (%s=%s); were the environments made in a different "
                 "order than in the parent?\n",
                 detail::kServeVariable, std::getenv(detail::kServeVariable));
    std::fflush(nullptr);
    _exit(127);
  }
};

}  // namespace

// Watches every ForkServerEnv around each test. Failures are added in
// OnTestStart and OnTestEnd, where they belong to the running test: a test
// whose OnTestStart records a fatal failure does not run its body and shows
// as FAILED. (A fatal failure in Environment::SetUp would instead mark every
// test SKIPPED, which ctest counts as passed.)
class ServerWatchListener : public ::testing::EmptyTestEventListener {
 public:
  static void InstallOnce() {
    static bool installed = false;
    if (installed) return;
    installed = true;
    ::testing::UnitTest::GetInstance()->listeners().Append(new ServerWatchListener);
  }

  void OnTestStart(const ::testing::TestInfo&) override {
    for (ForkServerEnv* env : Registry()) {
      if (!env->unavailable_.empty()) {
        ReportFailure(::testing::TestPartResult::kFatalFailure, env->unavailable_);
      }
    }
  }

  void OnTestEnd(const ::testing::TestInfo& info) override {
    for (ForkServerEnv* env : Registry()) {
      if (!env->unavailable_.empty()) continue;
      std::string death = env->server_->CheckAlive("during test " + TestName(info));
      if (death.empty()) continue;
      ReportFailure(::testing::TestPartResult::kNonFatalFailure, death);
      env->unavailable_ = "this test did not run: server '" + env->options().name +
                          "' died during test " + TestName(info) + " (reported there).";
    }
  }
};

ForkServerEnv::ForkServerEnv(ServerMain server_main, Options options)
    : server_main_(std::move(server_main)),
      server_(std::make_unique<detail::ServerInstance>(std::move(options))) {
  Register();
}

ForkServerEnv::ForkServerEnv(Options options)
    : server_(std::make_unique<detail::ServerInstance>(std::move(options))) {
  Register();
}

void ForkServerEnv::Register() {
  index_ = NextIndex();
  Registry().push_back(this);
}

ForkServerEnv::~ForkServerEnv() {
  auto& envs = Registry();
  envs.erase(std::remove(envs.begin(), envs.end(), this), envs.end());
}

int ForkServerEnv::Serve(ServerContext& context) {
  if (!server_main_) {
    std::fprintf(stderr,
                 "gtest_fork_env: server '%s' has no server function: pass one to the "
                 "constructor or override ForkServerEnv::Serve\n",
                 context.name().c_str());
    return 64;
  }
  return server_main_(context);
}

void ForkServerEnv::SetUp() {
  if (const char* spec = std::getenv(detail::kServeVariable)) {
    ServeIfReexecuted(spec);
    return;
  }
  ServerWatchListener::InstallOnce();
  unavailable_.clear();
  std::string failure =
      server_->Start([this](ServerContext& context) { return Serve(context); }, index_);
  if (failure.empty()) return;
  // Non-fatal on purpose (see ServerWatchListener): the tests still start, and
  // each fails at once with this message instead of being skipped.
  ReportFailure(::testing::TestPartResult::kNonFatalFailure, failure);
  unavailable_ = "server '" + options().name + "' failed to start, so this test did not run:\n" +
                 failure;
}

void ForkServerEnv::TearDown() {
  if (std::getenv(detail::kServeVariable)) return;
  std::string death = server_->CheckAlive("after the last test");
  if (!death.empty()) ReportFailure(::testing::TestPartResult::kNonFatalFailure, death);
  detail::ServerInstance::StopOutcome outcome = server_->Stop();
  if (outcome.forced) {
    detail::Log().warn(
        "server '{}' did not exit within stop_timeout ({} ms) of SIGTERM and was killed with "
        "SIGKILL; make it stop on SIGTERM (ServeHttplib does) or raise Options::stop_timeout",
        options().name, options().stop_timeout.count());
  }
  if (::testing::UnitTest::GetInstance()->Passed()) {
    server_->RemoveTemporaryLog();
  } else if (!server_->log_path().empty()) {
    detail::Log().info("server '{}' log kept at {}", options().name, server_->log_path());
  }
}

void ForkServerEnv::ServeIfReexecuted(const char* spec) {
  // "<index>:<notify fd>:<name>"
  char* end = nullptr;
  long index = std::strtol(spec, &end, 10);
  long notify_fd = (end && *end == ':') ? std::strtol(end + 1, &end, 10) : -1;
  std::string name = (end && *end == ':') ? std::string(end + 1) : std::string();
  if (index != index_) {
    static bool guarded = false;
    if (!guarded) {
      guarded = true;
      ::testing::UnitTest::GetInstance()->listeners().Append(new ReexecGuardListener);
    }
    return;
  }
  if (name != options().name || notify_fd < 0) {
    std::fprintf(stderr,
                 "gtest_fork_env: re-executed copy expected server '%s' as number %ld but found "
                 "'%s'; construct the environments in the same order every run\n",
                 name.c_str(), index, options().name.c_str());
    std::fflush(nullptr);
    _exit(127);
  }
  unsetenv(detail::kServeVariable);
  ServerContext context(options().name, options().host, options().port,
                        static_cast<int>(notify_fd));
  int code = 70;
  try {
    code = Serve(context);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "gtest_fork_env: the server function threw: %s\n", error.what());
  } catch (...) {
    std::fprintf(stderr, "gtest_fork_env: the server function threw a non-std exception\n");
  }
  std::fflush(nullptr);
  // Never return into the test runner.
  _exit(code);
}

const std::string& ForkServerEnv::host() const { return server_->options().host; }
uint16_t ForkServerEnv::port() const { return server_->port(); }
pid_t ForkServerEnv::pid() const { return server_->pid(); }
const std::string& ForkServerEnv::log_path() const { return server_->log_path(); }
const Options& ForkServerEnv::options() const { return server_->options(); }
bool ForkServerEnv::IsRunning() const { return server_->IsAlive(); }

std::string ForkServerEnv::url() const {
  const std::string& h = host();
  std::string bracketed = h.find(':') != std::string::npos ? "[" + h + "]" : h;
  return "http://" + bracketed + ":" + std::to_string(port());
}

}  // namespace gtest_fork_env
