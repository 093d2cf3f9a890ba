#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "data_dirs.h"
#include "gtest_fork_env/options.h"
#include "gtest_fork_env/server_context.h"
#include "log_file.h"
#include "probe.h"
#include "process.h"
#include "template_protocol.h"
#include "tls_files.h"

// One server's life: start it, wait until it is ready, watch it, stop it,
// and say in words what went wrong. Under Scope::kTest and kTestSuite it
// also keeps the template and makes a clone of it for each test or suite.
// Knows nothing of GoogleTest, so it can be driven by the Environment, by
// tests of its own and by benchmarks.

namespace gtest_fork_env::detail {

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

// A failure message in the shape every message has (name, what happened,
// the log, what to do); no value means success.
using Failure = std::optional<std::string>;

// The probe attempts of one readiness wait, for a message that says what
// they saw rather than what the last one, cut short by the deadline, saw.
class ProbeTally {
 public:
  void Add(const std::string& reason, bool cut_short);
  int attempts() const { return attempts_; }
  // "status 404" when every complete attempt saw a status, else "".
  const std::string& status_seen() const { return status_seen_; }
  // "answered status 404 to all 412 attempts", or the reasons with counts
  // and the last complete one.
  std::string Describe() const;

 private:
  int attempts_ = 0;
  int cut_short_ = 0;
  std::vector<std::pair<std::string, int>> reasons_;  // complete attempts
  std::string last_complete_;
  std::string last_cut_short_;
  std::string status_seen_;
};

class ServerInstance {
 public:
  ServerInstance(Options options, Launch launch)
      : options_(std::move(options)), launch_(std::move(launch)) {}

  // Makes a server ready for the tests: a clone of the template when there
  // is one, else a new process (`same_port`: on the port of the previous
  // start, for Restart). Returns the failure, with the process already
  // stopped and reaped.
  Failure Start(bool same_port);

  // No value while the server runs, or when its exit was expected
  // (ExpectExit). Once it is found dead: the message (naming `during`, e.g.
  // "test Suite.Name"), returned once; the process is reaped.
  Failure CheckAlive(const std::string& during);

  // The next exit of the server is on purpose (Stop, Kill from a test): not
  // a failure. Cleared by Start.
  void ExpectExit(bool expected = true) { exit_expected_ = expected; }
  bool exit_expected() const { return exit_expected_; }

  struct StopOutcome {
    bool was_running = false;  // false: it was not started or already reaped
    bool forced = false;       // it needed SIGKILL after stop_timeout
    ExitStatus status;
  };
  // Stops and reaps the server the tests use (a clone, under a template);
  // does nothing when it does not run. The log file, an activation socket
  // and the template stay for a later Start.
  StopOutcome Stop();
  // The same with SIGKILL at once (Options::kill_passed_clones); `forced`
  // tells that it still ran.
  StopOutcome Kill();
  // Sends `signal` to the server process alone, as a crash would come.
  std::error_code Signal(int signal);

  // Ends a unit of Scope::kTest or kTestSuite: stops the server and removes
  // its data directory (kept when `keep_data`); the next Start makes a new
  // server with a fresh one. A server that the stop found dead, or that
  // crashed on the way out, is reported (naming `during`).
  Failure EndUnit(bool keep_data, const std::string& during);

  // Ends a SetUp/TearDown cycle: stops the server and the template, closes
  // the activation socket and the log, and removes the log and the data
  // directories if `remove_temporary_files` and the library made them (and
  // Options::keep_log is off).
  void Finish(bool remove_temporary_files);

  bool IsAlive() const;
  // Waits up to `timeout` for the server to exit, without reaping it; true
  // when it has exited or does not run.
  bool WaitForExit(std::chrono::milliseconds timeout) {
    return !process_.started() || process_.WaitForExit(timeout).has_value();
  }
  // The spare: a clone of the template made while this unit runs, waiting
  // inside Checkpoint() to become the next unit's server. -1 when there is
  // none (no template; not ordered yet; the template could not make it).
  pid_t spare_pid() {
    CollectSpare();
    return spare_.pid();
  }
  // Whether a template serves the clones (the server called Checkpoint()).
  bool has_template() const { return template_.started(); }
  pid_t template_pid() const { return template_.pid(); }
  const Options& options() const { return options_; }
  uint16_t port() const { return port_; }
  pid_t pid() const { return process_.pid(); }
  const std::string& log_path() const { return log_.path; }
  const std::string& data_dir() const { return data_dir_; }
  long long log_size() const { return log_.path.empty() ? 0 : FileSize(log_.path); }
  std::string mode_name() const;
  void set_placeholder_lookup(PlaceholderLookup lookup) { lookup_ = std::move(lookup); }
  void set_reexec_index(int index) { launch_.reexec_index = index; }
  // Options::tls: the test binary's TLS files, set by Start; empty otherwise.
  const TlsFiles& tls_files() const { return tls_; }

  // Says what happened in the shape every failure message has: the server's
  // name and pid, `what`, the tail of its log, and `advice`.
  std::string Explain(const std::string& what, const std::string& advice) const;
  // The same for a server that was never started (no pid, no log tail).
  std::string ExplainNotStarted(const std::string& what, const std::string& advice,
                                bool name_mode = false) const;
  // A failure as a test sees it: "server '<name>' <what>:" and, on the
  // next lines, `failure` (already in the shape above).
  std::string Preface(const std::string& what, const std::string& failure) const;

 private:
  enum class Mode { kFork, kReexec, kExec };
  enum class Checkpointing { kUnknown, kYes, kNo };
  struct Channels;  // the pipes and sockets of one start
  struct Readiness {
    bool ready = false;
    bool checkpointed = false;   // it became a template
    std::string waited_for;      // when not ready: what was waited for, and seen
    Failure decisive;            // a failure that needs no further explaining
    bool preload_loaded = false;  // the checkpoint library was seen in the program
    bool linked = false;          // the program links the library ("linked")
  };

  Failure StartProcess(bool same_port);
  Failure StartOnce(uint16_t port, bool* port_was_taken);
  Failure StartClone();
  Failure OrderClone();
  bool AwaitReply(TemplateMessage* reply);
  void OrderSpare();
  void CollectSpare();
  bool TakeSpare();
  void DropSpare();
  Failure Spawn(uint16_t port, Channels& channels);
  Failure BecomeTemplate(UniqueFd control);
  Failure EndFailedStart(const Readiness& readiness, bool* port_was_taken);
  Failure PrepareStart();
  Failure CheckPreload();
  void AddTemplateChannel(int control_child, SpawnRequest& request) const;
  Mode ChooseMode(size_t threads) const;
  bool WantsTemplate() const;
  void PruneOtherRuns();
  SpawnRequest MakeRequest(uint16_t port, const Channels& channels, std::string* error);
  // Replaces {host}, {port}, {url}, {name}, {data_dir} and {other.key}; sets
  // `error` for an unknown {other.key}.
  // Options::tls: makes or extends the binary's TLS material (tls_).
  Failure PrepareTls();
  std::string Expand(const std::string& text, uint16_t port, std::string* error) const;

  Readiness WaitUntilReady(int notify_fd, int control_fd);
  bool ReadPortNotice(int notify_fd, std::string& notice, bool& open, Readiness& outcome);
  bool ReadControl(int control_fd, Readiness& outcome);
  bool ReadWhatItLeft(int notify_fd, std::string& notice, int control_fd, Readiness& outcome);
  bool AwaitCheckpoint(int control_fd, Readiness& outcome);
  bool AwaitCheckpointBeforeProbe(int control_fd, Readiness& outcome);
  bool AwaitLinkedCheckpoint(int control_fd, Readiness& outcome);
  bool ProbeUntilReady(bool awaiting, int control_fd,
                       std::chrono::steady_clock::time_point deadline, Readiness& outcome);
  bool WatchPreload(int control_fd, Readiness& outcome);
  std::string ExplainPreloadTimeout(const Readiness& outcome) const;
  std::string DescribeWait() const;
  std::string ProbeOnce();
  std::string ProbeLogLine();
  bool ProbeClone() const;

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
  std::string ExplainStartFailure(const Readiness& readiness,
                                  const std::optional<ExitStatus>& status,
                                  std::chrono::steady_clock::duration ran,
                                  const std::vector<pid_t>& left_in_group);
  Failure ExplainTemplateDeath();
  // Explain() for the process `pid` rather than the server's last one (the
  // template, whose death a clone's test reports).
  std::string Explain(pid_t pid, const std::string& what, const std::string& advice) const;
  void StopTemplate();

  Options options_;
  Launch launch_;
  PlaceholderLookup lookup_;
  Process process_;   // the server the tests use: a clone, under a template
  Process template_;  // the process that reached Checkpoint(), if any
  Process spare_;     // a clone waiting in Checkpoint() for the next unit
  std::string spare_data_dir_;
  bool spare_ordered_ = false;  // asked for, the template's reply not read
  UniqueFd control_;  // the test process's end of the template protocol
  MessageReader control_reader_;
  Checkpointing checkpointing_ = Checkpointing::kUnknown;
  LogFile log_;
  DataDirs data_dirs_;
  bool prune_pending_ = false;  // a log was opened: prune after the next spawn
  std::string data_dir_;  // of the current unit; "" between units
  UniqueFd activation_socket_;
  uint16_t activation_port_ = 0;
  TlsFiles tls_;              // Options::tls
  std::string checkpoint_library_;  // Options::preload_checkpoint: its path
  std::string probe_reason_;  // the last failed probe that advised something,
  std::string probe_advice_;  // and its advice ("" when none did)
  uint16_t port_ = 0;         // where the server listens now; 0 when down
  uint16_t last_port_ = 0;    // of the last successful start, for Restart
  pid_t last_pid_ = -1;       // for messages after the process was reaped
  long long log_offset_ = 0;  // log size when the current start began
  Mode mode_ = Mode::kFork;
  bool serving_clone_ = false;
  bool exit_expected_ = false;
  std::chrono::steady_clock::time_point started_at_;
  // The LogLine probe: compiled at the first start, reading only what was added.
  std::optional<std::regex> log_pattern_;
  long long log_scan_offset_ = 0;
  std::string log_partial_line_;
  ProbeTally tally_;
};

// "12 ms", "1.23 s".
std::string FormatDuration(std::chrono::steady_clock::duration duration);

// The command line of this process from /proc/self/cmdline; empty where
// there is no /proc.
std::vector<std::string> OwnCommandLine();

}  // namespace gtest_fork_env::detail
