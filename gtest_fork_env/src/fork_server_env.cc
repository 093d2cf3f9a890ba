#include "gtest_fork_env/fork_server_env.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "logger.h"
#include "process.h"
#include "server_instance.h"
#include "test_runner.h"

// The GoogleTest glue. It knows nothing of processes or HTTP: starting,
// watching and stopping the server is detail::ServerInstance's job.

namespace gtest_fork_env {
namespace {

// Lines of a server's log shown with a failed test, at most.
constexpr size_t kLogBytesPerFailedTest = 8 * 1024;

// Never destroyed: GoogleTest deletes environments after static destructors
// may have run, and ~ForkServerEnv unregisters itself.
std::vector<ForkServerEnv*>& Registry() {
  static auto* envs = new std::vector<ForkServerEnv*>;
  return *envs;
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

// GTEST_FORK_ENV_<NAME>_: the name upper-cased, anything but A-Z and 0-9
// turned into '_'.
std::string VariablePrefix(const std::string& name) {
  std::string prefix = "GTEST_FORK_ENV_";
  for (char c : name) {
    char upper = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    prefix += ((upper >= 'A' && upper <= 'Z') || (upper >= '0' && upper <= '9')) ? upper : '_';
  }
  return prefix + "_";
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

// Installed as soon as a re-executed copy makes its first ForkServerEnv, so
// the copy can never run tests, whichever environments it has.
void InstallReexecGuardOnce() {
  static bool installed = false;
  if (installed) return;
  installed = true;
  ::testing::UnitTest::GetInstance()->listeners().Append(new ReexecGuardListener);
}

}  // namespace

// Watches every ForkServerEnv around each test. Failures are added in
// OnTestStart and OnTestEnd, where they belong to the running test: a test
// whose OnTestStart records a fatal failure does not run its body and shows
// as FAILED. (A fatal failure in Environment::SetUp would instead mark every
// test SKIPPED, which ctest counts as passed.) OnTestEnd listeners run
// before the result printer's, so what is added there is printed with the
// test.
class ServerWatchListener : public ::testing::EmptyTestEventListener {
 public:
  static void InstallOnce() {
    static bool installed = false;
    if (installed) return;
    installed = true;
    ::testing::UnitTest::GetInstance()->listeners().Append(new ServerWatchListener);
    owner_pid_ = getpid();
#if defined(__GLIBC__)
    on_exit([](int code, void*) { FailExitDuringTests(code); }, nullptr);
#else
    std::atexit([] { FailExitDuringTests(0); });
#endif
  }

  void OnTestStart(const ::testing::TestInfo&) override {
    for (ForkServerEnv* env : Registry()) {
      if (!env->unavailable_.empty()) {
        ReportFailure(::testing::TestPartResult::kFatalFailure, env->unavailable_);
        continue;
      }
      if (env->log_path().empty()) continue;
      env->log_offset_at_test_start_ = env->server_->log_size();
      ::testing::Test::RecordProperty("gtest_fork_env_log_" + env->options().name,
                                      env->log_path());
    }
  }

  void OnTestEnd(const ::testing::TestInfo& info) override {
    for (ForkServerEnv* env : Registry()) {
      if (!env->unavailable_.empty()) continue;
      std::string death = env->server_->CheckAlive("during test " + TestName(info));
      if (!death.empty()) {
        ReportFailure(::testing::TestPartResult::kNonFatalFailure, death);
        env->unavailable_ = "this test did not run: server '" + env->options().name +
                            "' died during test " + TestName(info) + " (reported there).";
        continue;
      }
      if (info.result()->Failed()) ShowLogOfTest(*env);
      if (env->restart_after_test_ && !env->IsRunning()) {
        env->restart_after_test_ = false;
        if (!env->Start()) {
          env->unavailable_ = "this test did not run: server '" + env->options().name +
                              "' could not be started again after test " + TestName(info) +
                              " stopped it (reported there).";
        }
      }
      env->restart_after_test_ = false;
      // A Kill() that did not kill: later deaths are failures again.
      env->server_->ExpectExit(false);
    }
  }

 private:
  // exit() while a server is up (a test called it, or code under test did)
  // ends the run early, often with code 0: the remaining tests silently never
  // run. Make that a failed run. Only in the process that set the servers
  // up: a fast death-test child calls exit() on purpose.
  static void FailExitDuringTests(int code) {
    if (getpid() != owner_pid_) return;
    // A threadsafe death-test child runs the environments too, and exits on
    // purpose.
    if (!GTEST_FLAG_GET(internal_run_death_test).empty()) return;
    for (ForkServerEnv* env : Registry()) {
      if (!env->set_up_) continue;
      const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
      std::fprintf(stderr,
                   "gtest_fork_env: the test binary called exit(%d) %s%s while server '%s' was "
                   "up; the tests after it did not run. Failing the run.\n",
                   code, test ? "during test " : "outside any test",
                   test ? TestName(*test).c_str() : "", env->options().name.c_str());
      std::fflush(nullptr);
      _exit(code != 0 ? code : 1);
    }
  }

  static pid_t owner_pid_;

  // What the server wrote while the failed test ran, so a CI failure can be
  // read without re-running.
  static void ShowLogOfTest(ForkServerEnv& env) {
    std::string lines =
        detail::ReadFrom(env.log_path(), env.log_offset_at_test_start_, kLogBytesPerFailedTest);
    detail::CopyToUndeclaredOutputs(env.log_path());
    if (lines.empty()) return;
    const std::string quoted = detail::QuoteLines(lines, SIZE_MAX, SIZE_MAX);
    std::printf("[gtest_fork_env] server '%s' wrote during this test (whole log: %s):\n%s",
                env.options().name.c_str(), env.log_path().c_str(), quoted.c_str());
    std::fflush(stdout);
  }
};

pid_t ServerWatchListener::owner_pid_ = -1;

ForkServerEnv::ForkServerEnv(ServerMain server_main, Options options)
    : server_main_(std::move(server_main)) {
  Register(std::move(options), {});
}

ForkServerEnv::ForkServerEnv(Options options) { Register(std::move(options), {}); }

ForkServerEnv::ForkServerEnv(ExecTag, std::vector<std::string> argv, Options options) {
  Register(std::move(options), std::move(argv));
}

ForkServerEnv* ForkServerEnv::Exec(std::vector<std::string> argv, Options options) {
  return new ForkServerEnv(ExecTag{}, std::move(argv), std::move(options));
}

void ForkServerEnv::Register(Options options, std::vector<std::string> argv) {
  index_ = NextIndex();
  detail::Launch launch;
  launch.function = [this](ServerContext& context) { return Serve(context); };
  launch.reexec_index = index_;
  launch.argv = std::move(argv);
  server_ = std::make_unique<detail::ServerInstance>(std::move(options), std::move(launch));
  if (std::getenv(detail::kServeVariable)) InstallReexecGuardOnce();
  server_->set_placeholder_lookup([](const std::string& key, std::string* value) {
    const std::string name = key.substr(0, key.find('.'));
    const std::string field = key.substr(key.find('.') + 1);
    for (ForkServerEnv* env : Registry()) {
      if (env->options().name != name || !env->IsRunning()) continue;
      if (field == "host") *value = env->host();
      else if (field == "port") *value = std::to_string(env->port());
      else if (field == "url") *value = env->url();
      else if (field == "pid") *value = std::to_string(env->pid());
      else return false;
      return true;
    }
    return false;
  });
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
  set_up_ = true;
  unavailable_.clear();
  // Inside a test (an environment made in a test body), a re-executed copy
  // of the binary could not make the same environment again.
  const bool in_test = ::testing::UnitTest::GetInstance()->current_test_info() != nullptr;
  server_->set_reexec_index(in_test ? -1 : index_);
  restart_after_test_ = false;
  std::string failure = server_->Start(/*same_port=*/false);
  if (failure.empty()) {
    ExportAddress();
    return;
  }
  // Non-fatal on purpose (see ServerWatchListener): the tests still start, and
  // each fails at once with this message instead of being skipped.
  ReportFailure(::testing::TestPartResult::kNonFatalFailure, failure);
  detail::ReportInfrastructureFailure(options().name, failure);
  detail::CopyToUndeclaredOutputs(log_path());
  unavailable_ = "server '" + options().name + "' failed to start, so this test did not run:\n" +
                 failure;
}

void ForkServerEnv::TearDown() {
  if (std::getenv(detail::kServeVariable)) return;
  set_up_ = false;
  std::string death = server_->CheckAlive("after the last test");
  if (!death.empty()) ReportFailure(::testing::TestPartResult::kNonFatalFailure, death);
  detail::ServerInstance::StopOutcome outcome = server_->Stop();
  if (outcome.forced) {
    detail::Log().warn(
        "server '{}' did not exit within stop_timeout ({} ms) of SIGTERM and was killed with "
        "SIGKILL; make it stop on SIGTERM (ServeHttplib does) or raise Options::stop_timeout",
        options().name, options().stop_timeout.count());
  }
  UnexportAddress();
  const bool passed = ::testing::UnitTest::GetInstance()->Passed();
  if (!passed && !server_->log_path().empty()) {
    const std::string copy = detail::CopyToUndeclaredOutputs(server_->log_path());
    detail::Log().info("server '{}' log kept at {}{}{}", options().name, server_->log_path(),
                       copy.empty() ? "" : " and copied to ", copy);
  }
  server_->Finish(/*remove_temporary_log=*/passed);
}

bool ForkServerEnv::Stop() {
  server_->ExpectExit();
  restart_after_test_ = true;
  detail::ServerInstance::StopOutcome outcome = server_->Stop();
  if (!outcome.was_running) {
    ReportFailure(::testing::TestPartResult::kNonFatalFailure,
                  "gtest_fork_env: Stop(): server '" + options().name + "' was not running.");
    return false;
  }
  return true;
}

bool ForkServerEnv::Start() {
  if (IsRunning() && !server_->exit_expected()) {
    ReportFailure(::testing::TestPartResult::kNonFatalFailure,
                  "gtest_fork_env: Start(): server '" + options().name + "' is already running.");
    return false;
  }
  // After Kill() the process may not have died yet: stop it as TearDown
  // would (bounded by stop_timeout) and reap it.
  server_->Stop();
  std::string failure = server_->Start(/*same_port=*/true);
  if (!failure.empty()) {
    ReportFailure(::testing::TestPartResult::kNonFatalFailure, failure);
    detail::ReportInfrastructureFailure(options().name, failure);
    return false;
  }
  ExportAddress();
  return true;
}

bool ForkServerEnv::Restart() { return Stop() && Start(); }

bool ForkServerEnv::Kill(int signal) {
  server_->ExpectExit();
  restart_after_test_ = true;
  if (auto error = server_->Signal(signal)) {
    ReportFailure(::testing::TestPartResult::kNonFatalFailure,
                  "gtest_fork_env: Kill(): cannot signal server '" + options().name +
                      "': " + error.message());
    return false;
  }
  return true;
}

void ForkServerEnv::ExportAddress() {
  const std::string prefix = VariablePrefix(options().name);
  setenv((prefix + "URL").c_str(), url().c_str(), 1);
  setenv((prefix + "PORT").c_str(), std::to_string(port()).c_str(), 1);
  setenv((prefix + "PID").c_str(), std::to_string(pid()).c_str(), 1);
}

void ForkServerEnv::UnexportAddress() {
  const std::string prefix = VariablePrefix(options().name);
  for (const char* field : {"URL", "PORT", "PID"}) unsetenv((prefix + field).c_str());
}

void ForkServerEnv::ServeIfReexecuted(const char* spec) {
  // "<index>:<notify fd>:<port>:<name>"
  char* end = nullptr;
  long index = std::strtol(spec, &end, 10);
  long notify_fd = (end && *end == ':') ? std::strtol(end + 1, &end, 10) : -1;
  long port = (end && *end == ':') ? std::strtol(end + 1, &end, 10) : -1;
  std::string name = (end && *end == ':') ? std::string(end + 1) : std::string();
  if (index != index_) return;  // another server of this binary
  if (name != options().name || notify_fd < 0 || port < 0 || port > 65535) {
    std::fprintf(stderr,
                 "gtest_fork_env: re-executed copy expected server '%s' as number %ld but found "
                 "'%s'; construct the environments in the same order every run\n",
                 name.c_str(), index, options().name.c_str());
    std::fflush(nullptr);
    _exit(127);
  }
  unsetenv(detail::kServeVariable);
  ServerContext context(options().name, options().host, static_cast<uint16_t>(port),
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
  detail::DumpCoverage();
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
