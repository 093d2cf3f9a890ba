#include "gtest_fork_env/fork_server_env.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "gtest_fork_env/url.h"
#include "logger.h"
#include "process.h"
#include "reexec_spec.h"
#include "server_context_access.h"
#include "server_instance.h"
#include "tls_material.h"
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

// Options::tls: makes the binary's TLS material once, before the first server
// starts, covering the hosts of every registered TLS server, so that no
// certificate has to be made again for a later one.
void MakeTlsMaterialForAll() {
  std::vector<std::string> hosts;
  bool client_cert = false;
  for (ForkServerEnv* env : Registry()) {
    if (!env->options().tls) continue;
    hosts.push_back(env->options().host);
    client_cert = client_cert || env->options().tls_client_auth;
  }
  detail::TlsFiles files;
  // A failure is reported by the server's own start, which tries again.
  if (!hosts.empty()) detail::EnsureTlsMaterial(hosts, client_cert, &files);
}

// Why a later test did not run, for a failure already reported where it
// happened: "this test did not run: server '<name>' <what> (reported there)."
std::string NotRunBecause(const std::string& name, const std::string& what) {
  return "this test did not run: server '" + name + "' " + what + " (reported there).";
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

  void OnTestSuiteStart(const ::testing::TestSuite&) override {
    for (ForkServerEnv* env : Registry()) env->BeforeTestSuite();
  }

  void OnTestStart(const ::testing::TestInfo&) override {
    for (ForkServerEnv* env : Registry()) env->BeforeTest();
  }

  void OnTestEnd(const ::testing::TestInfo& info) override {
    for (ForkServerEnv* env : Registry()) env->AfterTest(TestName(info), info.result()->Failed());
  }

  void OnTestSuiteEnd(const ::testing::TestSuite& suite) override {
    for (ForkServerEnv* env : Registry()) env->AfterTestSuite(suite.Failed());
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

namespace {

bool NameTaken(const std::string& name) {
  return std::any_of(Registry().begin(), Registry().end(),
                     [&](ForkServerEnv* env) { return env->options().name == name; });
}

// The default name is "server"; in exec mode the program's base name says
// more. A default that is taken gets a number ("redis-server-2"); a name
// given twice on purpose is an error, reported by SetUp.
std::string ChooseName(const Options& options, const std::vector<std::string>& argv,
                       std::string* error) {
  const bool defaulted = options.name == Options().name;
  std::string name = options.name;
  if (defaulted && !argv.empty() && !argv[0].empty()) {
    name = argv[0].substr(argv[0].find_last_of('/') + 1);
  }
  if (!NameTaken(name)) return name;
  if (!defaulted) {
    *error = "two servers of this binary are named '" + name +
             "'; their log files and GTEST_FORK_ENV_" + "<NAME>_* variables would be "
             "confused.\nWhat to do: give each ForkServerEnv its own Options::name.";
    return name;
  }
  for (int n = 2;; ++n) {
    if (!NameTaken(name + "-" + std::to_string(n))) return name + "-" + std::to_string(n);
  }
}

}  // namespace

void ForkServerEnv::Register(Options options, std::vector<std::string> argv) {
  index_ = NextIndex();
  options.name = ChooseName(options, argv, &registration_error_);
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
      if (env->options().name != name) continue;
      env->StartIfWaiting();
      if (!env->IsRunning()) continue;
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
  restart_after_test_ = false;
  detail::Failure failure;
  owner_pid_ = getpid();
  if (!registration_error_.empty()) {
    failure = "gtest_fork_env: " + registration_error_;
  } else if (options().lazy_start) {
    waiting_for_first_use_ = true;
    return;
  } else {
    // Inside a test (an environment made in a test body), a re-executed copy
    // of the binary could not make the same environment again.
    const bool in_test = ::testing::UnitTest::GetInstance()->current_test_info() != nullptr;
    server_->set_reexec_index(in_test ? -1 : index_);
    if (options().tls) MakeTlsMaterialForAll();
    failure = server_->Start(/*same_port=*/false);
  }
  if (!failure) {
    ExportAddress();
    return;
  }
  // Non-fatal on purpose (see ServerWatchListener): the tests still start, and
  // each fails at once with this message instead of being skipped.
  ReportFailure(::testing::TestPartResult::kNonFatalFailure, *failure);
  detail::ReportInfrastructureFailure(options().name, *failure);
  detail::CopyToUndeclaredOutputs(log_path());
  unavailable_ = server_->Preface("failed to start, so this test did not run", *failure);
}

void ForkServerEnv::TearDown() {
  if (std::getenv(detail::kServeVariable)) return;
  set_up_ = false;
  waiting_for_first_use_ = false;
  if (auto death = server_->CheckAlive("after the last test")) {
    ReportFailure(::testing::TestPartResult::kNonFatalFailure, *death);
  }
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
  server_->Finish(/*remove_temporary_files=*/passed);
}

bool ForkServerEnv::ScopeIs(Scope scope) const { return options().scope == scope; }

void ForkServerEnv::BeforeTestSuite() {
  if (ScopeIs(Scope::kTestSuite) && unavailable_.empty() && !options().lazy_start) {
    EnsureServer("test suite");
  }
}

void ForkServerEnv::StartIfWaiting() {
  if (!set_up_ || getpid() != owner_pid_) return;  // not in a forked copy
  if (!unavailable_.empty() && options().lazy_start && !reported_in_this_test_) {
    reported_in_this_test_ = true;
    ReportFailure(::testing::TestPartResult::kNonFatalFailure, unavailable_);
  }
  if (!waiting_for_first_use_) return;
  waiting_for_first_use_ = false;
  // A first start takes Options::port; a later one keeps the port it had.
  detail::Failure failure = server_->Start(/*same_port=*/true);
  if (!failure) {
    ExportAddress();
    return;
  }
  reported_in_this_test_ = true;
  ReportFailure(::testing::TestPartResult::kNonFatalFailure,
                server_->Preface("(Options::lazy_start) failed to start when first used",
                                 *failure));
  detail::ReportInfrastructureFailure(options().name, *failure);
  detail::CopyToUndeclaredOutputs(log_path());
  unavailable_ = server_->Preface("failed to start, so it is not available", *failure);
}

void ForkServerEnv::AfterTestSuite(bool suite_failed) {
  if (!ScopeIs(Scope::kTestSuite) || !unavailable_.empty()) return;
  if (auto failure = server_->EndUnit(suite_failed, "its test suite")) {
    ReportFailure(::testing::TestPartResult::kNonFatalFailure, *failure);
  }
}

void ForkServerEnv::BeforeTest() {
  reported_in_this_test_ = false;
  if (options().lazy_start) {
    // Under kTest the last test's server is gone: the next use starts one.
    if (set_up_ && !IsRunning() && unavailable_.empty()) waiting_for_first_use_ = true;
  } else if (!unavailable_.empty()) {
    ReportFailure(::testing::TestPartResult::kFatalFailure, unavailable_);
    return;
  } else if (!ScopeIs(Scope::kBinary)) {
    EnsureServer("test");
  }
  if (log_path().empty()) return;
  log_offset_at_test_start_ = server_->log_size();
  ::testing::Test::RecordProperty("gtest_fork_env_log_" + options().name, log_path());
}

void ForkServerEnv::EnsureServer(const std::string& unit) {
  if (IsRunning()) return;
  server_->Stop();  // reaps a server that died in the last test
  const bool had_template = server_->has_template();
  detail::Failure failure = server_->Start(/*same_port=*/true);
  if (!failure) {
    ExportAddress();
    return;
  }
  ReportFailure(::testing::TestPartResult::kFatalFailure,
                server_->Preface("could not be started for this " + unit, *failure));
  detail::ReportInfrastructureFailure(options().name, *failure);
  if (had_template && !server_->has_template()) {
    unavailable_ = server_->Preface("lost its template, so this test did not run", *failure);
  }
}

void ForkServerEnv::AfterTest(const std::string& test_name, bool test_failed) {
  if (!unavailable_.empty()) return;
  if (auto death = server_->CheckAlive("during test " + test_name)) {
    ReportFailure(::testing::TestPartResult::kNonFatalFailure, *death);
    test_failed = true;
    if (ScopeIs(Scope::kBinary)) {
      unavailable_ = NotRunBecause(options().name, "died during test " + test_name);
      return;
    }
  }
  const std::string data_dir = server_->data_dir();
  if (ScopeIs(Scope::kTest)) {
    if (auto failure = server_->EndUnit(test_failed, "test " + test_name)) {
      ReportFailure(::testing::TestPartResult::kNonFatalFailure, *failure);
      test_failed = true;
    }
  }
  if (test_failed) ShowLogOfTest(ScopeIs(Scope::kTest) ? data_dir : "");
  // A Kill() that did not kill: later deaths are failures again.
  server_->ExpectExit(false);
  if (ScopeIs(Scope::kTest)) {
    restart_after_test_ = false;
    return;
  }
  if (restart_after_test_ && !IsRunning()) {
    restart_after_test_ = false;
    if (!Start()) {
      unavailable_ = NotRunBecause(options().name, "could not be started again after test " +
                                                       test_name + " stopped it");
    }
  }
  restart_after_test_ = false;
}

// What the server wrote while the failed test ran, so a CI failure can be
// read without re-running.
void ForkServerEnv::ShowLogOfTest(const std::string& kept_data_dir) const {
  if (log_path().empty()) return;
  std::string lines = detail::ReadFrom(log_path(), log_offset_at_test_start_,
                                       kLogBytesPerFailedTest);
  detail::CopyToUndeclaredOutputs(log_path());
  if (lines.empty()) return;
  const std::string quoted = detail::QuoteLines(lines, SIZE_MAX, SIZE_MAX);
  std::printf("[gtest_fork_env] server '%s' wrote during this test (whole log: %s):\n%s",
              options().name.c_str(), log_path().c_str(), quoted.c_str());
  if (!kept_data_dir.empty()) {
    std::printf("[gtest_fork_env] its data directory is kept at %s\n", kept_data_dir.c_str());
  }
  std::fflush(stdout);
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
  if (auto failure = server_->Start(/*same_port=*/true)) {
    ReportFailure(::testing::TestPartResult::kNonFatalFailure, *failure);
    detail::ReportInfrastructureFailure(options().name, *failure);
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

bool ForkServerEnv::WaitForExit(std::chrono::milliseconds timeout) {
  return server_->WaitForExit(timeout);
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

void ForkServerEnv::ServeIfReexecuted(const char* text) {
  detail::ReexecSpec spec;
  const bool parsed = detail::ParseReexecSpec(text, &spec);
  if (parsed && spec.index != index_) return;  // another server of this binary
  if (!parsed || spec.name != options().name) {
    std::fprintf(stderr,
                 "gtest_fork_env: re-executed copy expected server '%s' as number %d but found "
                 "'%s'; construct the environments in the same order every run\n",
                 spec.name.c_str(), spec.index, options().name.c_str());
    std::fflush(nullptr);
    _exit(127);
  }
  unsetenv(detail::kServeVariable);
  ServerContext context(options().name, options().host, spec.port, spec.notify_fd);
  detail::ServerContextAccess::SetControlFd(context, spec.control_fd);
  detail::ServerContextAccess::SetDataDir(context, spec.data_dir);
  if (const char* tls_dir = std::getenv(detail::kTlsDirVariable); tls_dir && options().tls) {
    detail::ServerContextAccess::SetTls(context, detail::TlsFiles{tls_dir});
  }
  unsetenv(detail::kTlsDirVariable);
  // Never return into the test runner.
  _exit(detail::RunServerFunction([&] { return Serve(context); }));
}

// The accessors that say where the server is start a lazy one (const to the
// caller: the server is there, only not yet started).
const std::string& ForkServerEnv::host() const {
  const_cast<ForkServerEnv*>(this)->StartIfWaiting();
  return server_->options().host;
}
uint16_t ForkServerEnv::port() const {
  const_cast<ForkServerEnv*>(this)->StartIfWaiting();
  return server_->port();
}
pid_t ForkServerEnv::pid() const {
  const_cast<ForkServerEnv*>(this)->StartIfWaiting();
  return server_->pid();
}
const std::string& ForkServerEnv::log_path() const { return server_->log_path(); }
const std::string& ForkServerEnv::data_dir() const { return server_->data_dir(); }
const Options& ForkServerEnv::options() const { return server_->options(); }
bool ForkServerEnv::IsRunning() const { return server_->IsAlive(); }

std::string ForkServerEnv::url() const {
  return FormatUrl(options().tls ? "https" : "http", host(), port());
}

std::string ForkServerEnv::ca_cert_path() const { return server_->tls_files().ca_cert(); }

std::string ForkServerEnv::client_cert_path() const {
  return options().tls_client_auth ? server_->tls_files().client_cert() : std::string();
}

std::string ForkServerEnv::client_key_path() const {
  return options().tls_client_auth ? server_->tls_files().client_key() : std::string();
}

}  // namespace gtest_fork_env
