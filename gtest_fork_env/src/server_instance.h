#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gtest_fork_env/options.h"
#include "gtest_fork_env/server_context.h"
#include "log_file.h"
#include "probe.h"
#include "process.h"
#include "tls_files.h"

// One server's life: start it, wait until it is ready, watch it, stop it,
// and say in words what went wrong. Knows nothing of GoogleTest, so it can
// be driven by the Environment, by tests of its own and by benchmarks.

namespace gtest_fork_env::detail {

// The variable that makes a re-executed test binary run one server:
// "<index>:<notify fd>:<port>:<name>".
constexpr const char* kServeVariable = "GTEST_FORK_ENV_INTERNAL_SERVE";

// What the server is: a function (fork or re-exec mode) or a program (exec
// mode, when `argv` is not empty).
struct Launch {
  std::function<int(ServerContext&)> function;
  // Names the server to a re-executed copy of the binary; -1 when it cannot
  // be re-executed (an environment made inside a test).
  int reexec_index = -1;
  std::vector<std::string> argv;
};

// Resolves a placeholder naming another server ("api.port"); false when
// there is no such running server or key.
using PlaceholderLookup = std::function<bool(const std::string& key, std::string* value)>;

class ServerInstance {
 public:
  ServerInstance(Options options, Launch launch)
      : options_(std::move(options)), launch_(std::move(launch)) {}

  // Starts the server and waits until the probe passes. `same_port`: listen
  // on the port of the previous start (Restart). Returns "" when ready;
  // otherwise the whole failure message, with the process already stopped
  // and reaped.
  std::string Start(bool same_port);

  // "" while the server runs, or when its exit was expected (ExpectExit).
  // Once it is found dead: the message (naming `during`, e.g. "test
  // Suite.Name"), returned once; the process is reaped.
  std::string CheckAlive(const std::string& during);

  // The next exit of the server is on purpose (Stop, Kill from a test): not
  // a failure. Cleared by Start.
  void ExpectExit(bool expected = true) { exit_expected_ = expected; }
  bool exit_expected() const { return exit_expected_; }

  struct StopOutcome {
    bool was_running = false;  // false: it was not started or already reaped
    bool forced = false;       // it needed SIGKILL after stop_timeout
    ExitStatus status;
  };
  // Stops and reaps the server; does nothing when it does not run. The log
  // file and an activation socket stay for a later Start.
  StopOutcome Stop();
  // Sends `signal` to the server process alone, as a crash would come.
  std::error_code Signal(int signal);

  // Ends a SetUp/TearDown cycle: stops the server, closes the activation
  // socket and the log, and removes the log if `remove_temporary_log` and the
  // library made it (and Options::keep_log is off).
  void Finish(bool remove_temporary_log);

  bool IsAlive() const;
  const Options& options() const { return options_; }
  uint16_t port() const { return port_; }
  pid_t pid() const { return process_.pid(); }
  const std::string& log_path() const { return log_.path; }
  long long log_size() const { return log_.path.empty() ? 0 : FileSize(log_.path); }
  const char* mode_name() const;
  void set_placeholder_lookup(PlaceholderLookup lookup) { lookup_ = std::move(lookup); }
  void set_reexec_index(int index) { launch_.reexec_index = index; }
  // Options::tls: the test binary's TLS files, set by Start; empty otherwise.
  const TlsFiles& tls_files() const { return tls_; }

  // Says what happened in the shape every failure message has: the server's
  // name and pid, `what`, the tail of its log, and `advice`.
  std::string Explain(const std::string& what, const std::string& advice) const;

 private:
  enum class Mode { kFork, kReexec, kExec };

  // Options::tls: makes or extends the binary's TLS material (tls_); the
  // whole failure message, or "".
  std::string PrepareTls();
  std::string StartOnce(uint16_t port, bool* port_was_taken);
  SpawnRequest MakeRequest(uint16_t port, int notify_read, int notify_write,
                           std::string* error);
  // Replaces {host}, {port}, {url}, {name} and {other.key}; sets `error` for
  // an unknown {other.key}.
  std::string Expand(const std::string& text, uint16_t port, std::string* error) const;
  // "" when ready, else what was waited for.
  std::string WaitUntilReady(int notify_fd);
  std::string ProbeOnce();
  // The probe's failure ("" when it passed), remembering the last one that
  // came with advice (a TLS diagnosis) over a later attempt cut short.
  std::string KeepDiagnosis(const ProbeResult& result);
  // Options::tls: the probe's CA and client certificate.
  TlsClientFiles ProbeTlsFiles() const;
  // The probe's target as the failure message names it.
  std::string DescribeProbe() const;
  // For a server that exited with code 0 on its own: the sentence that says
  // it daemonized (empty when there is no sign of it), and `advice`.
  std::string DaemonNote(const ExitStatus& status, const std::vector<pid_t>& left_in_group,
                         std::string* advice) const;
  std::string ExplainStartFailure(const std::string& waited_for,
                                  const std::optional<ExitStatus>& status,
                                  std::chrono::steady_clock::duration ran,
                                  const std::vector<pid_t>& left_in_group);

  Options options_;
  Launch launch_;
  PlaceholderLookup lookup_;
  Process process_;
  LogFile log_;
  UniqueFd activation_socket_;
  uint16_t activation_port_ = 0;
  TlsFiles tls_;              // Options::tls
  std::string probe_reason_;  // the last failed probe that advised something,
  std::string probe_advice_;  // and its advice ("" when none did)
  uint16_t port_ = 0;         // where the server listens now; 0 when down
  uint16_t last_port_ = 0;    // of the last successful start, for Restart
  pid_t last_pid_ = -1;       // for messages after the process was reaped
  long long log_offset_ = 0;  // log size when the current start began
  Mode mode_ = Mode::kFork;
  bool exit_expected_ = false;
  std::chrono::steady_clock::time_point started_at_;
};

// "12 ms", "1.23 s".
std::string FormatDuration(std::chrono::steady_clock::duration duration);

// The command line of this process from /proc/self/cmdline; empty where
// there is no /proc.
std::vector<std::string> OwnCommandLine();

}  // namespace gtest_fork_env::detail
