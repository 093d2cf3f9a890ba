#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gtest_fork_env/options.h"
#include "gtest_fork_env/server_context.h"

namespace gtest_fork_env {

namespace detail {
class ServerInstance;
}

// A GoogleTest global environment that runs a live server for the whole test
// binary:
//
//   ::testing::AddGlobalTestEnvironment(
//       new gtest_fork_env::ForkServerEnv(ServeMyApi));
//
// SetUp() starts the server in a child process (see SpawnMode) and returns
// only when it is ready (see Probe); TearDown() stops it (SIGTERM to its
// process group, SIGKILL after Options::stop_timeout) and reaps it. With
// Options::scope = Scope::kTest each test gets a server of its own: a
// copy-on-write clone of a warm template when the server function calls
// ServerContext::Checkpoint() (ServeHttplib does), else a new one.
//
// What it guarantees:
// - A server that fails to start fails every test of the binary, with its
//   name, how it ended, how long it ran and the tail of its log. The tests
//   show as FAILED, never SKIPPED, so ctest cannot report a green run.
// - A server found dead after a test fails that test. Under Scope::kBinary
//   every later test fails too; under kTest and kTestSuite the next test
//   gets a fresh server.
// - No server outlives the test binary, however it dies: the binary's
//   watchdog process kills each server's process group when the binary is
//   gone.
// - The child never returns into the test runner and never runs the
//   binary's atexit handlers or static destructors.
//
// Errors: reported as GoogleTest failures; nothing is thrown.
class ForkServerEnv : public ::testing::Environment {
 public:
  // The server: runs in the child, must listen on context.host() and
  // context.port(), call context.NotifyListening(port) and serve until
  // SIGTERM. Its return value is the child's exit code.
  using ServerMain = std::function<int(ServerContext& context)>;

  explicit ForkServerEnv(ServerMain server_main, Options options = {});

  // Exec mode: a server that is a program of its own (your daemon, nginx,
  // redis-server, `python3 -m http.server {port}`), for AddGlobalTestEnvironment.
  // In `argv` and in Options::env, {host}, {port}, {url} and {name} are
  // replaced by this server's values, and {NAME.host}, {NAME.port},
  // {NAME.url}, {NAME.pid} by those of the running server named NAME (one
  // registered before this one). With Options::tls, {tls_cert}, {tls_key}
  // and {ca_cert} are the PEM files of the server's certificate, its key and
  // the test CA (docs/https.md). The library picks the port (or passes a
  // listening socket, see Options::socket_activation); the program must stay
  // in the foreground. A program that cannot be executed fails SetUp at once
  // with the exec error.
  static ForkServerEnv* Exec(std::vector<std::string> argv, Options options = {});

  ~ForkServerEnv() override;
  ForkServerEnv(const ForkServerEnv&) = delete;
  ForkServerEnv& operator=(const ForkServerEnv&) = delete;

  // Starts the server and waits until it is ready.
  void SetUp() override;
  // Stops the server and reaps it; reports a server that died on its own.
  // Safe when SetUp failed or never ran.
  void TearDown() override;

  // The address tests connect to, valid after SetUp. With
  // Options::lazy_start, host(), port(), url() and pid() start the server
  // when it waits for its first use.
  const std::string& host() const;
  // The port the server listens on (the bound one when Options::port is 0),
  // or 0 when it is not running.
  uint16_t port() const;
  // "http://host:port", or "https://host:port" with Options::tls (IPv6 hosts
  // in brackets; see FormatUrl in url.h).
  std::string url() const;
  // Options::tls: the PEM file of the throwaway CA that signed the server's
  // certificate; give it to a client as its only trusted CA (curl --cacert).
  // Empty when TLS is off or before the first SetUp. For an httplib client
  // that has it already set, see MakeHttplibClient (httplib_client.h).
  std::string ca_cert_path() const;
  // Options::tls_client_auth: the client certificate and key (PEM) signed by
  // the same CA, for mutual TLS (curl --cert --key). Empty otherwise.
  std::string client_cert_path() const;
  std::string client_key_path() const;
  // The server's pid, or -1 when not running: under Scope::kTest, the
  // current test's clone. The server runs in a process group of its own,
  // which TearDown signals as a whole.
  pid_t pid() const;
  // The server's ServerContext::data_dir() for the current test (kTest),
  // suite (kTestSuite) or binary; empty before SetUp.
  const std::string& data_dir() const;
  // The file holding the server's stdout and stderr.
  const std::string& log_path() const;
  const Options& options() const;
  // Whether the server process is alive now (a cheap, non-blocking check).
  // Right after Kill() it can still be true for a few milliseconds, until
  // the signal has done its work: use WaitForExit to wait for that.
  bool IsRunning() const;
  // Waits up to `timeout` for the server process to exit (after Kill(), or
  // a request that makes it exit). True when it has exited, or does not
  // run. It stays unreaped, so the end of the test still sees how it ended.
  bool WaitForExit(std::chrono::milliseconds timeout);

  // For tests of persistence and recovery, from inside a test. They act on
  // the current test's server (under Scope::kTest, its clone). A server
  // that a test stopped or killed and did not start again is started again
  // after that test, so the next test has one (and a failure of that start
  // fails the test that stopped it). Each returns false, with a GoogleTest
  // failure saying why, when it fails.
  //
  // Stops the server as TearDown does (SIGTERM, SIGKILL after stop_timeout).
  bool Stop();
  // Starts it again on the same port (for a socket-activated program: on
  // the same socket, which kept queueing connections meanwhile) and waits
  // until it is ready. Under a template it forks a fresh clone of the
  // template, which starts from the checkpoint's memory and keeps this
  // test's data_dir(): so a write to the data directory survives, a write
  // kept only in memory does not.
  bool Start();
  // Stop() then Start(): a new process on the same port.
  bool Restart();
  // Sends `signal` to the server process (not its group), as a crash would
  // come. A death that follows is expected, not a failure.
  bool Kill(int signal);

 protected:
  // For subclasses that override Serve() instead of passing a function.
  explicit ForkServerEnv(Options options = {});

  // Runs in the child. The default calls the function given to the
  // constructor.
  virtual int Serve(ServerContext& context);

 private:
  friend class ServerWatchListener;
  struct ExecTag {};
  ForkServerEnv(ExecTag, std::vector<std::string> argv, Options options);
  void Register(Options options, std::vector<std::string> argv);

  // Called around each test and suite by the library's listener: the
  // listener loops, the environment decides.
  void BeforeTestSuite();
  void AfterTestSuite(bool suite_failed);
  void BeforeTest();
  void AfterTest(const std::string& test_name, bool test_failed);
  // Under Scope::kTest and kTestSuite: a server for the next unit, if the
  // last one was ended. Reports a failure to the current test, if any.
  void EnsureServer(const std::string& unit);
  bool ScopeIs(Scope scope) const;
  // Options::lazy_start: starts the server if it waits for its first use.
  void StartIfWaiting();
  void ShowLogOfTest(const std::string& kept_data_dir) const;
  // After a successful start: GTEST_FORK_ENV_<NAME>_URL, _PORT, _PID.
  void ExportAddress();
  void UnexportAddress();
  // In a re-executed copy of the binary: serve and _exit if `spec` names this
  // server, else return without starting anything.
  void ServeIfReexecuted(const char* spec);

  ServerMain server_main_;
  std::unique_ptr<detail::ServerInstance> server_;
  int index_ = -1;  // construction order; names the server to a re-executed copy
  // A test stopped or killed the server; start it again after that test.
  bool restart_after_test_ = false;
  bool set_up_ = false;  // between SetUp and TearDown
  long long log_offset_at_test_start_ = 0;
  // Why the server is not available to tests ("" while it runs): set when it
  // failed to start or was found dead. Every test that starts then fails.
  std::string unavailable_;
  // Why registration failed (a duplicate name); reported by SetUp.
  std::string registration_error_;
  // Options::lazy_start: no server yet; the next host()/port()/url()/pid()
  // starts one.
  bool waiting_for_first_use_ = false;
  bool reported_in_this_test_ = false;  // a lazy start's failure, once per test
  pid_t owner_pid_ = -1;                // the process that ran SetUp
};

}  // namespace gtest_fork_env
