#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "gtest_fork_env/options.h"
#include "gtest_fork_env/server_context.h"
#include "log_file.h"
#include "process.h"

// One server's life: start it, wait until it is ready, watch it, stop it,
// and say in words what went wrong. Knows nothing of GoogleTest, so it can
// be driven by the Environment, by tests of its own and by benchmarks.

namespace gtest_fork_env::detail {

// The variable that makes a re-executed test binary run one server:
// "<index>:<notify fd>:<name>".
constexpr const char* kServeVariable = "GTEST_FORK_ENV_INTERNAL_SERVE";

class ServerInstance {
 public:
  using ServerMain = std::function<int(ServerContext&)>;

  explicit ServerInstance(Options options) : options_(std::move(options)) {}

  // Starts the server and waits until the probe passes. `reexec_index` names
  // this server to a re-executed copy of the binary (SpawnMode::kReexec).
  // Returns "" when ready; otherwise the whole failure message, with the
  // process already stopped and reaped.
  std::string Start(const ServerMain& server_main, int reexec_index);

  // "" while the server runs or was stopped on purpose. Once it is found
  // dead: the message (naming `during`, e.g. "test Suite.Name"), returned
  // once; the process is reaped.
  std::string CheckAlive(const std::string& during);

  struct StopOutcome {
    bool was_running = false;  // false: it was not started or already dead
    bool forced = false;       // it needed SIGKILL after stop_timeout
    ExitStatus status;
    std::chrono::milliseconds elapsed{0};
  };
  // Stops and reaps the server; does nothing when it does not run.
  StopOutcome Stop();

  // Removes the log file if the library made it and Options::keep_log is
  // off. Call only after a clean run.
  void RemoveTemporaryLog();

  bool running() const { return process_.started(); }
  bool IsAlive() const;
  const Options& options() const { return options_; }
  uint16_t port() const { return port_; }
  pid_t pid() const { return process_.pid(); }
  const std::string& log_path() const { return log_.path; }
  SpawnMode mode_used() const { return mode_used_; }

  // Says what happened in the shape every failure message has: the server's
  // name and pid, `what`, the tail of its log, and `advice`.
  std::string Explain(const std::string& what, const std::string& advice) const;

 private:
  // "" when ready, else what was waited for.
  std::string WaitUntilReady(int notify_fd);
  std::string ProbeOnce();

  Options options_;
  Process process_;
  LogFile log_;
  uint16_t port_ = 0;
  pid_t last_pid_ = -1;  // for messages after the process was reaped
  SpawnMode mode_used_ = SpawnMode::kFork;
  std::chrono::steady_clock::time_point started_at_;
};

// "12 ms", "1.23 s".
std::string FormatDuration(std::chrono::steady_clock::duration duration);

// The command line of this process from /proc/self/cmdline; empty where
// there is no /proc.
std::vector<std::string> OwnCommandLine();

}  // namespace gtest_fork_env::detail
