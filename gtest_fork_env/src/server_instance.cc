#include "server_instance.h"

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "checkpoint.h"
#include "checkpoint_library.h"
#include "huge_pages.h"
#include "kept_entries.h"
#include "gtest_fork_env/url.h"
#include "listen_socket.h"
#include "logger.h"
#include "probe.h"
#include "reexec_spec.h"
#include "server_context_access.h"
#include "tls_material.h"
#include "test_runner.h"

namespace gtest_fork_env::detail {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string JoinPids(const std::vector<pid_t>& pids) {
  std::string text;
  for (pid_t pid : pids) text += (text.empty() ? "" : ", ") + std::to_string(pid);
  return text;
}

std::string Quoted(const std::vector<std::string>& argv) {
  std::string text;
  for (const std::string& arg : argv) text += (text.empty() ? "" : " ") + arg;
  return text;
}

// A stream socket pair for the template protocol, close-on-exec on both ends.
std::error_code MakeSocketPair(UniqueFd& parent_end, UniqueFd& child_end) noexcept {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return LastError();
  parent_end.reset(fds[0]);
  child_end.reset(fds[1]);
  return {};
}

}  // namespace

std::string FormatDuration(Clock::duration duration) {
  double ms = std::chrono::duration<double, std::milli>(duration).count();
  char text[32];
  if (ms < 1000) {
    std::snprintf(text, sizeof text, "%.0f ms", ms);
  } else {
    std::snprintf(text, sizeof text, "%.2f s", ms / 1000);
  }
  return text;
}

std::vector<std::string> OwnCommandLine() {
  std::ifstream file("/proc/self/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  return Split(all, '\0');
}

// The pipes and sockets of one start: the port report, and the template
// protocol under Scope::kTest and kTestSuite.
struct ServerInstance::Channels {
  UniqueFd notify_read, notify_write;
  UniqueFd control_parent, control_child;
};

std::string ServerInstance::mode_name() const {
  if (serving_clone_) return "a clone of its template, pid " + std::to_string(template_.pid());
  switch (mode_) {
    case Mode::kFork: return "fork mode";
    case Mode::kReexec: return "re-exec mode";
    case Mode::kExec: return "exec mode";
  }
  return "";
}

std::string ServerInstance::Explain(const std::string& what, const std::string& advice) const {
  return Explain(last_pid_, what, advice);
}

std::string ServerInstance::Explain(pid_t pid, const std::string& what,
                                    const std::string& advice) const {
  std::string message = "server '" + options_.name + "' (pid " + std::to_string(pid) +
                        ", " + mode_name() + ") " + what + "\n";
  std::string tail = log_.path.empty() ? "" : TailOfFile(log_.path, options_.log_tail_lines);
  if (log_.path.empty()) {
    message += "It has no log file.\n";
  } else if (tail.empty()) {
    message += "Its log " + log_.path + " is empty.\n";
  } else {
    message += "Last lines of its log " + log_.path + ":\n" + tail;
  }
  return message + "What to do: " + advice;
}

std::string ServerInstance::ExplainNotStarted(const std::string& what, const std::string& advice,
                                              bool name_mode) const {
  return "server '" + options_.name + "'" + (name_mode ? " (" + mode_name() + ")" : "") +
         " was not started: " + what + "\nWhat to do: " + advice;
}

std::string ServerInstance::Preface(const std::string& what, const std::string& failure) const {
  return "server '" + options_.name + "' " + what + ":\n" + failure;
}

std::string ServerInstance::Expand(const std::string& text, uint16_t port,
                                   std::string* error) const {
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t open = text.find('{', pos);
    size_t close = open == std::string::npos ? open : text.find('}', open);
    if (close == std::string::npos) break;
    out += text.substr(pos, open - pos);
    const std::string key = text.substr(open + 1, close - open - 1);
    std::string value = "{" + key + "}";  // not a placeholder: left as it is
    if (key == "host") {
      value = options_.host;
    } else if (key == "port") {
      value = std::to_string(port);
    } else if (key == "url") {
      value = FormatUrl(options_.tls ? "https" : "http", options_.host, port);
    } else if (key == "tls_cert" || key == "tls_key" || key == "ca_cert") {
      value = key == "tls_cert" ? tls_.server_cert()
              : key == "tls_key" ? tls_.server_key() : tls_.ca_cert();
      if (!options_.tls && error && error->empty()) {
        *error = "placeholder {" + key + "} needs Options::tls = true";
      }
    } else if (key == "name") {
      value = options_.name;
    } else if (key == "data_dir") {
      value = data_dir_;
    } else if (key.find('.') != std::string::npos && key.find(' ') == std::string::npos &&
               (!lookup_ || !lookup_(key, &value)) && error && error->empty()) {
      *error = "unknown placeholder {" + key + "}: no server named '" +
               key.substr(0, key.find('.')) +
               "' was started before this one, or no such key (host, port, url, pid)";
    }
    out += value;
    pos = close + 1;
  }
  return out + (pos < text.size() ? text.substr(pos) : "");
}

SpawnRequest ServerInstance::MakeRequest(uint16_t port, const Channels& channels,
                                         std::string* error) {
  SpawnRequest request;
  request.output_fd = log_.fd.get();
  std::vector<std::string> env;
  for (const std::string& entry : options_.env) env.push_back(Expand(entry, port, error));
  if (!options_.huge_pages && channels.control_child.get() >= 0) {
    env.push_back(std::string(kHugePagesVariable) + "=0");
  }
  const int notify_read = channels.notify_read.get(), notify_write = channels.notify_write.get();
  const int control_parent = channels.control_parent.get();
  const int control_child = channels.control_child.get();
  if (mode_ == Mode::kExec) {
    for (const std::string& arg : launch_.argv) request.argv.push_back(Expand(arg, port, error));
    request.env = std::move(env);
    request.working_dir = Expand(options_.working_dir, port, error);
    if (activation_socket_) {
      request.listen_fds.push_back(activation_socket_.get());
      request.listen_fd_names = options_.name;
    }
    AddTemplateChannel(control_child, request);
  } else if (mode_ == Mode::kReexec) {
    request.argv = OwnCommandLine();
    request.program = "/proc/self/exe";
    request.env = std::move(env);
    ReexecSpec spec{launch_.reexec_index, notify_write, control_child, port, options_.name,
                    data_dir_};
    request.env.push_back(std::string(kServeVariable) + "=" + FormatReexecSpec(spec));
    if (options_.tls) request.env.push_back(std::string(kTlsDirVariable) + "=" + tls_.dir);
    request.inherit_fds.push_back(notify_write);
    if (control_child >= 0) request.inherit_fds.push_back(control_child);
  } else {
    request.function = [this, env, port, notify_read, notify_write, control_parent,
                        control_child] {
      close(notify_read);
      if (control_parent >= 0) close(control_parent);
      for (const std::string& entry : env) putenv(const_cast<char*>(strdup(entry.c_str())));
      ServerContext context(options_.name, options_.host, port, notify_write);
      ServerContextAccess::SetControlFd(context, control_child);
      ServerContextAccess::SetDataDir(context, data_dir_);
      if (options_.tls) ServerContextAccess::SetTls(context, tls_);
      return launch_.function(context);
    };
  }
  return request;
}

// Exec mode under Scope::kTest or kTestSuite: the program's end of the
// template protocol, which its ServerContext (or the preloaded checkpoint
// library) takes from the environment (template_protocol.h).
void ServerInstance::AddTemplateChannel(int control_child, SpawnRequest& request) const {
  if (control_child < 0) return;
  request.inherit_fds.push_back(control_child);
  request.env.push_back(std::string(kTemplateFdVariable) + "=" + std::to_string(control_child));
  request.env.push_back(std::string(kDataDirVariable) + "=" + data_dir_);
  if (options_.preload_checkpoint) request.env.push_back(PreloadEntry(checkpoint_library_));
}

// Options::preload_checkpoint needs a program, a scope with clones and the
// checkpoint library.
Failure ServerInstance::CheckPreload() {
  if (!options_.preload_checkpoint || !checkpoint_library_.empty()) return std::nullopt;
  if (launch_.argv.empty()) {
    return ExplainNotStarted("Options::preload_checkpoint is for a program (exec mode), and "
                             "this server is a function",
                             "drop preload_checkpoint: a server function becomes a template "
                             "at ServerContext::Checkpoint() (ServeHttplib calls it).");
  }
  if (options_.scope == Scope::kBinary) {
    return ExplainNotStarted("Options::preload_checkpoint clones a warm program for each test "
                             "or suite, and the scope is Scope::kBinary",
                             "set Options::scope to Scope::kTest or kTestSuite, or drop "
                             "preload_checkpoint.");
  }
  std::string looked_in;
  checkpoint_library_ = FindCheckpointLibrary(&looked_in);
  if (!checkpoint_library_.empty()) return std::nullopt;
  return ExplainNotStarted("Options::preload_checkpoint: the checkpoint library "
                           "libgtest_fork_env_checkpoint.so is not there (looked in " +
                               looked_in + ")",
                           "install gtest_fork_env again (it installs the library in "
                           "lib/gtest_fork_env/), or point " +
                               std::string(kCheckpointLibraryVariable) + " at it.");
}

Failure ServerInstance::Start(bool same_port) {
  exit_expected_ = false;
  if (auto failure = PrepareStart()) return failure;
  if (template_.started()) return StartClone();
  return StartProcess(same_port);
}

// What every start needs first: the log, the unit's data directory, the
// compiled log-line pattern.
Failure ServerInstance::PrepareStart() {
  if (!log_.fd) {
    prune_pending_ = true;
    if (auto error = OpenLogFile(options_.log_path, options_.name, log_)) {
      return ExplainNotStarted(
          "cannot open its log " +
              (options_.log_path.empty() ? "in " + LogDirectory() : "file " + options_.log_path) + ": " +
              error.message(),
          AdviceForFileError(error, options_.log_path.empty() ? "Options::log_path or TMPDIR"
                                                               : "Options::log_path"));
    }
  }
  if (auto failure = PrepareTls()) return failure;
  if (auto failure = CheckPreload()) return failure;
  if (data_dir_.empty() && !template_.started()) {  // a clone's comes with it
    const std::error_code error = options_.scope == Scope::kBinary
                                      ? data_dirs_.OnlyUnit(options_.name, &data_dir_)
                                      : data_dirs_.NewUnit(options_.name, false, &data_dir_);
    if (error) {
      return ExplainNotStarted("cannot make its data directory: " + error.message(),
                               AdviceForFileError(error, "TMPDIR"));
    }
  }
  // Options never change: compiled at the first start (a clone, never
  // probed by its log, does not pay for it).
  if (options_.probe.kind == Probe::Kind::kLogLine && !log_pattern_) {
    try {
      log_pattern_.emplace(options_.probe.log_pattern);
    } catch (const std::regex_error& error) {
      return ExplainNotStarted(
          "Probe::LogLine's pattern /" + options_.probe.log_pattern +
              "/ is not a valid regular expression: " + error.what(),
          "fix the pattern (ECMAScript syntax, as std::regex reads it).");
    }
  }
  return std::nullopt;
}

Failure ServerInstance::StartProcess(bool same_port) {
  const bool exec = !launch_.argv.empty();
  uint16_t wanted = same_port && last_port_ != 0 ? last_port_ : options_.port;
  if (exec && options_.socket_activation && !activation_socket_) {
    if (auto error = Listen(options_.host, wanted, activation_socket_, &activation_port_)) {
      return ExplainNotStarted("cannot listen on " + options_.host + ":" +
                                   std::to_string(wanted) + " for socket activation: " +
                                   error.message(),
                               "check Options::host and Options::port.");
    }
  }
  const bool may_retry = exec && !options_.socket_activation && wanted == 0;
  const int attempts = may_retry ? 1 + std::max(0, options_.port_retries) : 1;
  for (int attempt = 1;; ++attempt) {
    uint16_t port = exec && options_.socket_activation ? activation_port_ : wanted;
    if (exec && port == 0) {
      if (auto error = PickFreePort(options_.host, &port)) {
        return ExplainNotStarted("cannot find a free port on " + options_.host + ": " +
                                     error.message(),
                                 "check Options::host.");
      }
    }
    bool port_was_taken = false;
    Failure failure = StartOnce(port, &port_was_taken);
    if (!failure) {
      last_port_ = port_;
      return std::nullopt;
    }
    if (!port_was_taken || attempt >= attempts) {
      if (port_was_taken) {
        *failure += " (The port was taken on each of " + std::to_string(attempts) + " tries.)";
      }
      return failure;
    }
    Log().debug("server '{}': port {} was taken before it could bind it; trying a fresh one",
                options_.name, port);
  }
}

Failure ServerInstance::PrepareTls() {
  if (!options_.tls) return std::nullopt;
  std::string error = EnsureTlsMaterial({options_.host}, options_.tls_client_auth, &tls_);
  if (error.empty()) {
    WarmUpTlsClient(ProbeTlsFiles());
    return std::nullopt;
  }
  return ExplainNotStarted("cannot make its TLS certificates (Options::tls): " + error,
                           "check that libssl3 is installed and that $TEST_TMPDIR, $TMPDIR or "
                           "/tmp is writable.");
}

ServerInstance::Mode ServerInstance::ChooseMode(size_t threads) const {
  if (!launch_.argv.empty()) return Mode::kExec;
  SpawnMode mode = options_.spawn_mode;
  if (mode == SpawnMode::kAuto) mode = threads > 1 ? SpawnMode::kReexec : SpawnMode::kFork;
  const char* why_not_reexec = nullptr;
#if !defined(__linux__)
  why_not_reexec = "re-exec mode needs Linux (/proc/self/exe)";
#endif
  if (launch_.reexec_index < 0) {
    why_not_reexec =
        "re-exec mode needs an environment registered before RUN_ALL_TESTS, which a "
        "re-executed copy of the binary makes again";
  }
  if (mode == SpawnMode::kReexec && why_not_reexec) {
    Log().warn("server '{}': {}; forking instead", options_.name, why_not_reexec);
    mode = SpawnMode::kFork;
  }
  if (mode == SpawnMode::kFork && threads > 1) {
    static bool warned = false;
    if (!warned) {
      warned = true;
      Log().warn(
          "server '{}': forking a test binary that has {} threads; a lock held by another "
          "thread stays locked in the server forever. Register the environment before "
          "RUN_ALL_TESTS with SpawnMode kAuto or kReexec, or start no threads before it.",
          options_.name, threads);
    }
  }
  return mode == SpawnMode::kReexec ? Mode::kReexec : Mode::kFork;
}

// A server under Scope::kTest or kTestSuite may become a template: a
// function, a program that links the library and calls Checkpoint(), or a
// program with the checkpoint library preloaded.
bool ServerInstance::WantsTemplate() const {
  return options_.scope != Scope::kBinary && checkpointing_ != Checkpointing::kNo;
}

Failure ServerInstance::StartOnce(uint16_t port, bool* port_was_taken) {
  port_ = 0;
  last_pid_ = -1;
  serving_clone_ = false;
  log_offset_ = log_scan_offset_ = log_size();
  log_partial_line_.clear();
  probe_advice_.clear();
  probe_reason_.clear();
  const size_t threads = CountThreads();
  mode_ = ChooseMode(threads);
  Log().debug("server '{}': starting in {} ({} thread(s) in the test binary)", options_.name,
              mode_name(), threads);
  Channels channels;
  if (Failure failure = Spawn(port, channels)) return failure;
  PruneOtherRuns();
  // From here only the child holds these ends: end-of-file means it closed
  // them or exited.
  channels.notify_write.reset();
  channels.control_child.reset();
  if (mode_ == Mode::kExec || port != 0) port_ = port;
  Readiness readiness = WaitUntilReady(channels.notify_read ? channels.notify_read.get() : -1,
                                       channels.control_parent ? channels.control_parent.get() : -1);
  if (readiness.checkpointed) return BecomeTemplate(std::move(channels.control_parent));
  if (readiness.ready && !readiness.decisive) {
    Log().debug("server '{}' (pid {}) ready on {}:{} after {}", options_.name, last_pid_,
                options_.host, port_, FormatDuration(Clock::now() - started_at_));
    return std::nullopt;
  }
  return EndFailedStart(readiness, port_was_taken);
}

// Removes what other runs of this server name left beyond the newest few
// (kept_entries.h), once per log this instance made: after the spawn, so
// that it runs while the child starts, not before it.
void ServerInstance::PruneOtherRuns() {
  if (!prune_pending_) return;
  prune_pending_ = false;
  if (log_.temporary) PruneOtherLogs(options_.name);
  DataDirs::PruneOtherRuns(options_.name);
}

// Makes the channels of one start and starts the child (its pid in
// last_pid_). A failure names the step that failed.
Failure ServerInstance::Spawn(uint16_t port, Channels& channels) {
  std::error_code channel_error;
  if (mode_ != Mode::kExec) channel_error = MakePipe(channels.notify_read, channels.notify_write);
  if (!channel_error && WantsTemplate()) {
    channel_error = MakeSocketPair(channels.control_parent, channels.control_child);
  }
  if (channel_error) {
    return ExplainNotStarted("pipe: " + channel_error.message(),
                             "check the descriptor limit (ulimit -n).");
  }
  std::string placeholder_error;
  SpawnRequest request = MakeRequest(port, channels, &placeholder_error);
  if (!placeholder_error.empty()) {
    return ExplainNotStarted(placeholder_error + ".",
                             "register the other server's environment first; they start in "
                             "registration order.");
  }
  started_at_ = Clock::now();
  ChildStep step = ChildStep::kSetpgid;
  if (auto error = process_.Start(request, &step)) {
    const bool exec = step == ChildStep::kExec;
    return ExplainNotStarted(
        (exec ? "exec of '" + request.argv[0] + "'" : std::string(StepName(step))) +
            " failed: " + error.message(),
        exec ? "check the program's path and PATH, and that it is executable."
             : "check the limits on processes and descriptors (ulimit -u, ulimit -n).",
        /*name_mode=*/true);
  }
  last_pid_ = process_.pid();
  return std::nullopt;
}

// The started child reached its checkpoint: it becomes the template, and
// the first clone serves.
Failure ServerInstance::BecomeTemplate(UniqueFd control) {
  template_ = std::move(process_);
  control_ = std::move(control);
  last_port_ = port_;
  // The template keeps the first directory, with what it wrote before its
  // checkpoint; each clone works in a copy of it (OrderClone).
  data_dir_.clear();
  Log().debug("server '{}' (pid {}) reached its checkpoint after {}: a template now",
              options_.name, last_pid_, FormatDuration(Clock::now() - started_at_));
  return StartClone();
}

// The started child did not become ready: stops it and says why, and
// whether an exec-mode program found its port taken (to retry another).
Failure ServerInstance::EndFailedStart(const Readiness& readiness, bool* port_was_taken) {
  const auto ran = Clock::now() - started_at_;
  std::optional<ExitStatus> status = process_.Peek();
  std::vector<pid_t> left_in_group;
  if (status) left_in_group = process_.OtherGroupMembers();
  process_.Stop(milliseconds(0));
  if (status && mode_ == Mode::kExec && !options_.socket_activation) {
    std::string output = ReadFrom(log_.path, log_offset_, 64 * 1024);
    *port_was_taken = output.find("already in use") != std::string::npos ||
                      output.find("Address in use") != std::string::npos;
  }
  // Explained before port_ is cleared: DaemonNote looks for a daemon that
  // escaped on the port this start used.
  Failure failure = readiness.decisive ? readiness.decisive
                                       : ExplainStartFailure(readiness, status, ran, left_in_group);
  port_ = 0;
  return failure;
}

std::string ServerInstance::ExplainStartFailure(const Readiness& readiness,
                                                const std::optional<ExitStatus>& status,
                                                Clock::duration ran,
                                                const std::vector<pid_t>& left_in_group) {
  if (!status) {
    const std::string& status_seen = tally_.status_seen();
    std::string advice =
        "if it is only slow, raise Options::start_timeout; otherwise check that it listens on "
        "the host and port it was given and, for a server function, that it reports the port.";
    if (!probe_advice_.empty()) {
      advice = probe_advice_;
    } else if (!status_seen.empty()) {
      advice = "it answers, with " + status_seen + ": check Probe::HttpGet's path (" +
               options_.probe.http_path + ") and status range (" +
               std::to_string(options_.probe.min_status) + "-" +
               std::to_string(options_.probe.max_status) + ").";
    }
    return Explain("was not ready within start_timeout (" +
                       FormatDuration(options_.start_timeout) + "): " + readiness.waited_for +
                       ". It was killed." + TestTimeoutNote(started_at_ + options_.start_timeout),
                   advice);
  }
  const std::string ended = Describe(*status) + " after " + FormatDuration(ran) +
                            ", before it was ready (" + readiness.waited_for + ")";
  std::string advice;
  std::string daemon = DaemonNote(*status, left_in_group, &advice);
  if (!daemon.empty()) return Explain(ended + daemon, advice);
  if (mode_ == Mode::kExec) {
    return Explain(ended + ".", "read its log above; run `" + Quoted(launch_.argv) +
                                    "` by hand with the same {port} to see it fail.");
  }
  return Explain(ended + ".",
                 "read its log above; a server function must listen, call "
                 "NotifyListening(port) and serve until SIGTERM (ServeHttplib does all three).");
}

// Whether a clone needs its probe: the template's listening socket already
// passed TcpConnect, and its log line came before the checkpoint; an HTTP
// answer or a predicate of the clone's own is news.
bool ServerInstance::ProbeClone() const {
  return options_.probe.kind == Probe::Kind::kHttpGet ||
         options_.probe.kind == Probe::Kind::kPredicate;
}

// A unit's clone is the spare ordered when the unit before started, when it
// is there and alive; a Restart inside a unit, whose clone must work in the
// unit's own data directory, orders one.
Failure ServerInstance::StartClone() {
  if (auto death = ExplainTemplateDeath()) return death;
  started_at_ = Clock::now();
  last_pid_ = -1;
  serving_clone_ = true;
  CollectSpare();
  if (!(data_dir_.empty() && TakeSpare())) {
    if (auto failure = OrderClone()) return failure;
  }
  last_pid_ = process_.pid();
  port_ = last_port_;
  OrderSpare();
  if (!ProbeClone()) return std::nullopt;
  Readiness readiness = WaitUntilReady(-1, -1);
  if (readiness.ready) return std::nullopt;
  const auto ran = Clock::now() - started_at_;
  std::optional<ExitStatus> status = process_.Peek();
  process_.Stop(milliseconds(0));
  port_ = 0;
  return ExplainStartFailure(readiness, status, ran, {});
}

Failure ServerInstance::OrderClone() {
  if (data_dir_.empty()) {
    if (auto error = data_dirs_.NewUnit(options_.name, true, &data_dir_)) {
      return ExplainNotStarted("cannot copy its data directory: " + error.message(),
                               AdviceForFileError(error, "TMPDIR"));
    }
  }
  if (auto error = SendMessage(control_.get(), {TemplateMessage::Kind::kClone, 0, data_dir_})) {
    return Explain("could not be asked for a clone: " + error.message(),
                   "read its log above; the template may be stuck or gone.");
  }
  TemplateMessage reply;
  if (!AwaitReply(&reply)) {
    if (auto death = ExplainTemplateDeath()) return death;
    // Its late reply would be taken for the answer to the next request.
    StopTemplate();
    return Explain("made no clone within start_timeout (" +
                       FormatDuration(options_.start_timeout) + "), so its template was stopped.",
                   "read its log above; raise Options::start_timeout if the machine is slow.");
  }
  if (reply.kind != TemplateMessage::Kind::kPid) {
    return Explain("could not fork a clone: " + std::string(std::strerror(static_cast<int>(
                                                    reply.number))),
                   "check the limits on processes and memory (ulimit -u, overcommit).");
  }
  if (auto error = process_.Adopt(static_cast<pid_t>(reply.number))) {
    return Explain("made clone " + std::to_string(reply.number) +
                       ", which this process cannot take charge of: " + error.message(),
                   "report this as a bug of gtest_fork_env.");
  }
  return std::nullopt;
}

// The template's reply to the one request in flight. False when none came
// within start_timeout or the template is gone (what it sent before it went
// is still read).
bool ServerInstance::AwaitReply(TemplateMessage* reply) {
  const auto deadline = ReadinessDeadline(Clock::now() + options_.start_timeout);
  while (!control_reader_.Next(reply)) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    struct pollfd events[2] = {{control_.get(), POLLIN, 0}, {template_.exit_fd(), POLLIN, 0}};
    RetryOnEintr([&] { return poll(events, template_.exit_fd() >= 0 ? 2 : 1,
                                   static_cast<int>(left.count()) + 1); });
    if (events[0].revents) {
      if (control_reader_.Fill(control_.get())) continue;
      // End-of-file: the template closed its end or is exiting. The kernel
      // closes a dying process's descriptors before it becomes a zombie:
      // wait for that, so that the callers' Peek() sees the death.
      template_.WaitForExit(std::min(left, milliseconds(1000)));
      return false;
    }
    if (template_.Peek()) return false;
  }
  return true;
}

// Asks the template for the next unit's clone now, while this unit runs:
// the fork and the template's round trip are then off the next test's
// clock. Without room for its directory or a template to ask, the next
// unit orders its own clone and reports what fails then.
void ServerInstance::OrderSpare() {
  if (!template_.started() || spare_.started() || spare_ordered_) return;
  if (data_dirs_.NewUnit(options_.name, true, &spare_data_dir_)) return;
  if (SendMessage(control_.get(), {TemplateMessage::Kind::kSpare, 0, spare_data_dir_})) {
    data_dirs_.RemoveUnit(spare_data_dir_);
    return;
  }
  spare_ordered_ = true;
}

// Reads the template's reply to OrderSpare and takes charge of the spare.
void ServerInstance::CollectSpare() {
  if (!spare_ordered_) return;
  spare_ordered_ = false;
  TemplateMessage reply;
  const bool answered = AwaitReply(&reply);
  if (answered && reply.kind == TemplateMessage::Kind::kPid &&
      !spare_.Adopt(static_cast<pid_t>(reply.number))) {
    return;
  }
  data_dirs_.RemoveUnit(spare_data_dir_);
  spare_data_dir_.clear();
  if (!answered && template_.started() && !template_.Peek()) {
    // Its late reply would be taken for the answer to the next request.
    Log().warn("server '{}': its template made no spare clone within start_timeout ({}); "
               "stopping it, the next start makes a new one",
               options_.name, FormatDuration(options_.start_timeout));
    StopTemplate();
  }
}

// Makes the spare this unit's clone: false (and no spare) when it died
// while it waited.
bool ServerInstance::TakeSpare() {
  if (!spare_.started()) return false;
  if (spare_.Peek() || SendGo(spare_.pid())) {
    Log().debug("server '{}': its spare clone {} is gone; ordering a clone", options_.name,
                spare_.pid());
    DropSpare();
    return false;
  }
  process_ = std::move(spare_);
  data_dir_ = std::move(spare_data_dir_);
  spare_data_dir_.clear();
  return true;
}

// Kills and reaps the spare (it waits inside Checkpoint(), with nothing to
// lose) and removes its directory.
void ServerInstance::DropSpare() {
  CollectSpare();
  if (spare_.started()) spare_.Stop(milliseconds(0));
  if (!spare_data_dir_.empty()) data_dirs_.RemoveUnit(spare_data_dir_);
  spare_data_dir_.clear();
}

Failure ServerInstance::ExplainTemplateDeath() {
  if (!template_.started()) return std::nullopt;
  std::optional<ExitStatus> status = template_.Peek();
  if (!status) return std::nullopt;
  const pid_t pid = template_.pid();
  StopTemplate();
  serving_clone_ = false;
  return Explain(pid,
                 "is gone: its template " + Describe(*status) + ", so no test can get a clone.",
                 "read its log above; the template must stay in ServerContext::Checkpoint() "
                 "(nothing may kill it but the library). Every later test of this binary fails "
                 "without running.");
}

void ServerInstance::StopTemplate() {
  DropSpare();
  // End-of-file on its socket: it kills any clone it made and exits.
  control_.reset();
  control_reader_ = MessageReader();
  if (template_.started()) template_.Stop(options_.stop_timeout);
}

Failure ServerInstance::CheckAlive(const std::string& during) {
  if (!process_.started()) return std::nullopt;
  std::optional<ExitStatus> status = process_.Peek();
  if (!status) return std::nullopt;
  const auto ran = Clock::now() - started_at_;
  std::vector<pid_t> left_in_group;
  if (!exit_expected_) left_in_group = process_.OtherGroupMembers();
  process_.Stop(milliseconds(0));
  port_ = 0;
  if (exit_expected_) return std::nullopt;
  std::string advice;
  std::string daemon = DaemonNote(*status, left_in_group, &advice);
  const std::string later = options_.scope == Scope::kBinary
                                ? "Every later test of this binary fails without running."
                                : "The next test gets a fresh server.";
  return Explain("died " + during + ": it " + Describe(*status) + " after running " +
                     FormatDuration(ran) + (daemon.empty() ? "." : daemon),
                 (advice.empty() ? "" : advice + " ") + "Read its log above. " + later);
}

std::string ServerInstance::DaemonNote(const ExitStatus& status,
                                       const std::vector<pid_t>& left_in_group,
                                       std::string* advice) const {
  if (!status.success()) return "";
  const std::string foreground =
      "run it in the foreground (nginx: -g 'daemon off;', redis-server: --daemonize no, many "
      "programs: --foreground or -D).";
  if (!left_in_group.empty()) {
    *advice = foreground;
    return ", while process(es) " + JoinPids(left_in_group) +
           " of its process group kept running: the program daemonized (forked into the "
           "background and exited). Those processes were killed.";
  }
  if (mode_ != Mode::kExec) return "";
  *advice = "a program must keep running in the foreground; if it daemonizes (forks into the "
            "background and exits), " + foreground;
  const uint16_t port = port_ != 0 ? port_ : last_port_;
  // A daemon that escaped binds its port a little after its parent exited:
  // look for it for up to 2 s (a diagnosis on a failure path; redis-server
  // on a loaded machine was seen to bind more than 500 ms after).
  bool answers = false;
  const auto look_until = Clock::now() + milliseconds(2000);
  while (port != 0 && !answers && Clock::now() < look_until) {
    answers = TcpConnectOnce(options_.host, port, milliseconds(50)).ok;
    if (!answers) {
      struct timespec pause = {0, 10 * 1000 * 1000};
      nanosleep(&pause, nullptr);
    }
  }
  if (answers) {
    return ". Something still answers on its port: it probably daemonized into a session of "
           "its own, out of this library's reach; find it and stop it by hand.";
  }
  return ".";
}

bool ServerInstance::IsAlive() const { return process_.started() && !process_.Peek(); }

ServerInstance::StopOutcome ServerInstance::Stop() {
  StopOutcome outcome;
  if (!process_.started()) return outcome;
  outcome.was_running = true;
  outcome.status = process_.Stop(options_.stop_timeout, &outcome.forced);
  port_ = 0;
  return outcome;
}

ServerInstance::StopOutcome ServerInstance::Kill() {
  StopOutcome outcome;
  if (!process_.started()) return outcome;
  outcome.was_running = true;
  outcome.forced = !process_.Peek();  // our SIGKILL, not a crash
  outcome.status = process_.KillGroupAndReap();
  port_ = 0;
  return outcome;
}

std::error_code ServerInstance::Signal(int signal) {
  if (!process_.started()) return std::make_error_code(std::errc::no_such_process);
  if (kill(process_.pid(), signal) != 0) return LastError();
  return {};
}

Failure ServerInstance::EndUnit(bool keep_data, const std::string& during) {
  // A crash just before the end of the test can be seen here first: the
  // client saw the connection close before the process was a zombie.
  Failure death = CheckAlive("during " + during);
  CollectSpare();  // registers it with the watchdog before the next test
  const auto ran = Clock::now() - started_at_;
  StopOutcome outcome = keep_data || !options_.kill_passed_clones ? Stop() : Kill();
  const ExitStatus& status = outcome.status;
  const bool stopped_cleanly =
      status.success() || (status.signaled && status.signal == SIGTERM) || outcome.forced;
  if (!death && outcome.was_running && !stopped_cleanly && !exit_expected_) {
    death = Explain("died during " + during + " (found when it was stopped after it): it " +
                        Describe(status) + " after running " + FormatDuration(ran) + ".",
                    "Read its log above. The next test gets a fresh server. (If it crashed "
                    "on SIGTERM instead, make it exit cleanly on SIGTERM.)");
  }
  if (!keep_data && !death) data_dirs_.RemoveUnit(data_dir_);
  data_dir_.clear();
  return death;
}

void ServerInstance::Finish(bool remove_temporary_files) {
  Stop();
  StopTemplate();
  serving_clone_ = false;
  checkpointing_ = Checkpointing::kUnknown;
  activation_socket_.reset();
  activation_port_ = 0;
  last_port_ = 0;
  log_.fd.reset();
  data_dir_.clear();
  const bool remove = remove_temporary_files && !options_.keep_log;
  if (remove) data_dirs_.RemoveAll();
  if (remove && log_.temporary && !log_.path.empty()) {
    unlink(log_.path.c_str());
    log_.path.clear();
  }
}

}  // namespace gtest_fork_env::detail
