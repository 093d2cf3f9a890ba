#include "server_instance.h"

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <regex>

#include "listen_socket.h"
#include "logger.h"
#include "probe.h"
#include "test_runner.h"

namespace gtest_fork_env::detail {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// poll() with a timeout finer than a millisecond where ppoll() exists: the
// first probe pauses are 0.5 ms.
void PollFor(struct pollfd* events, nfds_t count, std::chrono::microseconds timeout) {
#if defined(__linux__)
  struct timespec delay = {static_cast<time_t>(timeout.count() / 1000000),
                           static_cast<long>(timeout.count() % 1000000) * 1000};
  RetryOnEintr([&] { return ppoll(events, count, &delay, nullptr); });
#else
  int ms = static_cast<int>((timeout.count() + 999) / 1000);
  RetryOnEintr([&] { return poll(events, count, ms); });
#endif
}

milliseconds Remaining(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
  return std::max(left, milliseconds(0));
}

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
  std::vector<std::string> args;
  size_t begin = 0;
  while (begin < all.size()) {
    size_t end = all.find('\0', begin);
    if (end == std::string::npos) end = all.size();
    args.push_back(all.substr(begin, end - begin));
    begin = end + 1;
  }
  return args;
}

const char* ServerInstance::mode_name() const {
  switch (mode_) {
    case Mode::kFork: return "fork mode";
    case Mode::kReexec: return "re-exec mode";
    case Mode::kExec: return "exec mode";
  }
  return "";
}

std::string ServerInstance::Explain(const std::string& what, const std::string& advice) const {
  std::string message = "server '" + options_.name + "' (pid " + std::to_string(last_pid_) +
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
    std::string value;
    if (key == "host") {
      value = options_.host;
    } else if (key == "port") {
      value = std::to_string(port);
    } else if (key == "url") {
      value = "http://" + options_.host + ":" + std::to_string(port);
    } else if (key == "name") {
      value = options_.name;
    } else if (key.find('.') != std::string::npos && !key.empty() && key.find(' ') == std::string::npos) {
      if (!lookup_ || !lookup_(key, &value)) {
        if (error && error->empty()) {
          *error = "unknown placeholder {" + key + "}: no server named '" +
                   key.substr(0, key.find('.')) +
                   "' was started before this one, or no such key (host, port, url, pid)";
        }
        value = "{" + key + "}";
      }
    } else {
      value = "{" + key + "}";  // not a placeholder: left as it is
    }
    out += value;
    pos = close + 1;
  }
  return out + (pos < text.size() ? text.substr(pos) : "");
}

SpawnRequest ServerInstance::MakeRequest(uint16_t port, int notify_read, int notify_write,
                                         std::string* error) {
  SpawnRequest request;
  request.output_fd = log_.fd.get();
  std::vector<std::string> env;
  for (const std::string& entry : options_.env) env.push_back(Expand(entry, port, error));

  if (mode_ == Mode::kExec) {
    for (const std::string& arg : launch_.argv) request.argv.push_back(Expand(arg, port, error));
    request.env = std::move(env);
    request.working_dir = options_.working_dir;
    if (activation_socket_) {
      request.listen_fds.push_back(activation_socket_.get());
      request.listen_fd_names = options_.name;
    }
  } else if (mode_ == Mode::kReexec) {
    request.argv = OwnCommandLine();
    request.program = "/proc/self/exe";
    request.env = std::move(env);
    request.env.push_back(std::string(kServeVariable) + "=" +
                          std::to_string(launch_.reexec_index) + ":" +
                          std::to_string(notify_write) + ":" + std::to_string(port) + ":" +
                          options_.name);
    request.inherit_fds.push_back(notify_write);
  } else {
    request.function = [this, env, port, notify_read, notify_write] {
      close(notify_read);
      for (const std::string& entry : env) putenv(const_cast<char*>(strdup(entry.c_str())));
      ServerContext context(options_.name, options_.host, port, notify_write);
      return launch_.function(context);
    };
  }
  return request;
}

std::string ServerInstance::Start(bool same_port) {
  exit_expected_ = false;
  if (!log_.fd) {
    if (auto error = OpenLogFile(options_.log_path, options_.name, log_)) {
      return "server '" + options_.name + "' was not started: cannot open its log " +
             (options_.log_path.empty() ? "in " + LogDirectory() : "file " + options_.log_path) + ": " +
             error.message() + "\nWhat to do: point Options::log_path or TMPDIR at a writable place.";
    }
  }
  const bool exec = !launch_.argv.empty();
  uint16_t wanted = same_port && last_port_ != 0 ? last_port_ : options_.port;
  if (exec && options_.socket_activation && !activation_socket_) {
    if (auto error = Listen(options_.host, wanted, activation_socket_, &activation_port_)) {
      return "server '" + options_.name + "' was not started: cannot listen on " +
             options_.host + ":" + std::to_string(wanted) + " for socket activation: " +
             error.message() + "\nWhat to do: check Options::host and Options::port.";
    }
  }
  const int attempts =
      exec && !options_.socket_activation && wanted == 0 ? 1 + std::max(0, options_.port_retries) : 1;
  for (int attempt = 1;; ++attempt) {
    uint16_t port = wanted;
    if (exec && options_.socket_activation) {
      port = activation_port_;
    } else if (exec && port == 0) {
      if (auto error = PickFreePort(options_.host, &port)) {
        return "server '" + options_.name + "' was not started: cannot find a free port on " +
               options_.host + ": " + error.message() + "\nWhat to do: check Options::host.";
      }
    }
    bool port_was_taken = false;
    std::string failure = StartOnce(port, &port_was_taken);
    if (failure.empty()) {
      last_port_ = port_;
      return "";
    }
    if (!port_was_taken || attempt >= attempts) {
      if (port_was_taken) {
        failure += " (The port was taken on each of " + std::to_string(attempts) + " tries.)";
      }
      return failure;
    }
    Log().debug("server '{}': port {} was taken before it could bind it; trying a fresh one",
                options_.name, port);
  }
}

std::string ServerInstance::StartOnce(uint16_t port, bool* port_was_taken) {
  port_ = 0;
  last_pid_ = -1;
  log_offset_ = log_size();
  const size_t threads = CountThreads();
  if (!launch_.argv.empty()) {
    mode_ = Mode::kExec;
  } else {
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
    mode_ = mode == SpawnMode::kReexec ? Mode::kReexec : Mode::kFork;
  }
  Log().debug("server '{}': starting in {} ({} thread(s) in the test binary)", options_.name,
              mode_name(), threads);

  UniqueFd notify_read, notify_write;
  if (mode_ != Mode::kExec) {
    if (auto error = MakePipe(notify_read, notify_write)) {
      return "server '" + options_.name + "' was not started: pipe: " + error.message() +
             "\nWhat to do: check the descriptor limit (ulimit -n).";
    }
  }
  std::string placeholder_error;
  SpawnRequest request =
      MakeRequest(port, notify_read.get(), notify_write.get(), &placeholder_error);
  if (!placeholder_error.empty()) {
    return "server '" + options_.name + "' was not started: " + placeholder_error +
           ".\nWhat to do: register the other server's environment first; they start in "
           "registration order.";
  }

  started_at_ = Clock::now();
  std::string failed_step;
  if (auto error = process_.Start(request, &failed_step)) {
    std::string what = failed_step == "exec" ? "exec of '" + request.argv[0] + "'" : failed_step;
    return "server '" + options_.name + "' (" + mode_name() + ") was not started: " + what +
           " failed: " + error.message() + "\nWhat to do: " +
           (failed_step == "exec"
                ? "check the program's path and PATH, and that it is executable."
                : "check the limits on processes and descriptors (ulimit -u, ulimit -n).");
  }
  last_pid_ = process_.pid();
  // From here only the child holds the write end: end-of-file means it closed
  // it or exited.
  notify_write.reset();
  if (mode_ == Mode::kExec || port != 0) port_ = port;

  std::string waited_for = WaitUntilReady(notify_read ? notify_read.get() : -1);
  if (waited_for.empty()) {
    Log().debug("server '{}' (pid {}) ready on {}:{} after {}", options_.name, last_pid_,
                options_.host, port_, FormatDuration(Clock::now() - started_at_));
    return "";
  }
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
  std::string message = ExplainStartFailure(waited_for, status, ran, left_in_group);
  port_ = 0;
  return message;
}

std::string ServerInstance::ExplainStartFailure(const std::string& waited_for,
                                                const std::optional<ExitStatus>& status,
                                                Clock::duration ran,
                                                const std::vector<pid_t>& left_in_group) {
  if (!status) {
    return Explain("was not ready within start_timeout (" + FormatDuration(options_.start_timeout) +
                       "): " + waited_for + ". It was killed." +
                       TestTimeoutNote(started_at_ + options_.start_timeout),
                   "if it is only slow, raise Options::start_timeout; otherwise check that it "
                   "listens on the host and port it was given and, for a server function, that "
                   "it reports the port.");
  }
  const std::string ended = Describe(*status) + " after " + FormatDuration(ran) +
                            ", before it was ready (" + waited_for + ")";
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
  // look for it for up to half a second (a diagnosis on a failure path).
  bool answers = false;
  const auto look_until = Clock::now() + milliseconds(500);
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

std::string ServerInstance::ProbeOnce() {
  const Probe& probe = options_.probe;
  const milliseconds timeout =
      std::clamp(Remaining(ReadinessDeadline(started_at_ + options_.start_timeout)),
                 milliseconds(1), milliseconds(1000));
  switch (probe.kind) {
    case Probe::Kind::kNone:
      return "";
    case Probe::Kind::kTcpConnect: {
      ProbeResult result = TcpConnectOnce(options_.host, port_, timeout);
      return result.ok ? "" : result.reason;
    }
    case Probe::Kind::kHttpGet: {
      ProbeResult result = HttpGetOnce(options_.host, port_, probe.http_path, probe.min_status,
                                       probe.max_status, timeout);
      return result.ok ? "" : result.reason;
    }
    case Probe::Kind::kLogLine: {
      std::string output = ReadFrom(log_.path, log_offset_, 1024 * 1024);
      try {
        std::regex pattern(probe.log_pattern);
        size_t begin = 0;
        while (begin < output.size()) {
          size_t end = output.find('\n', begin);
          if (end == std::string::npos) end = output.size();
          if (std::regex_search(output.begin() + static_cast<long>(begin),
                                output.begin() + static_cast<long>(end), pattern)) {
            return "";
          }
          begin = end + 1;
        }
      } catch (const std::regex_error& error) {
        return std::string("the log_pattern is not a valid regular expression: ") + error.what();
      }
      return "no line of its output matched";
    }
    case Probe::Kind::kPredicate:
      try {
        if (!probe.predicate) return "no predicate was given";
        return probe.predicate(options_.host, port_) ? "" : "the predicate returned false";
      } catch (const std::exception& error) {
        return std::string("the predicate threw: ") + error.what();
      }
  }
  return "unknown probe";
}

std::string ServerInstance::WaitUntilReady(int notify_fd) {
  const auto deadline = ReadinessDeadline(started_at_ + options_.start_timeout);  // test_runner.h
  const auto first_pause = std::chrono::microseconds(500);
  const auto longest_pause = std::chrono::microseconds(2000);
  std::string notice;  // the partial "<port>\n" line
  bool notify_open = notify_fd >= 0;
  auto pause = first_pause;
  int attempts = 0;
  std::string last_failure;

  auto describe_wait = [&]() -> std::string {
    if (port_ == 0) {
      return "it never reported its port through ServerContext::NotifyListening";
    }
    const Probe& probe = options_.probe;
    std::string target = options_.host + ":" + std::to_string(port_);
    std::string what;
    switch (probe.kind) {
      case Probe::Kind::kHttpGet:
        what = "HTTP GET http://" + target + probe.http_path + " expecting " +
               std::to_string(probe.min_status) + "-" + std::to_string(probe.max_status);
        break;
      case Probe::Kind::kLogLine:
        what = "waiting for a line of its output to match /" + probe.log_pattern + "/";
        break;
      case Probe::Kind::kPredicate:
        what = "the readiness predicate for " + target;
        break;
      default:
        what = "TCP connect to " + target;
    }
    if (attempts == 0) return what + ": never tried";
    return what + " failed " + std::to_string(attempts) + " time(s), last: " + last_failure;
  };

  for (;;) {
    if (port_ != 0) {
      std::string failure = ProbeOnce();
      ++attempts;
      // A passing probe counts only while the server lives: a program that
      // daemonized can pass it from a process we do not watch.
      if (failure.empty() && !process_.Peek()) return "";
      last_failure = failure.empty() ? "the probe passed, but the process had exited" : failure;
    }
    if (process_.Peek()) return describe_wait();
    if (Clock::now() >= deadline) return describe_wait();

    // Wait for the port, the child's exit or the next probe, whichever
    // comes first: no fixed sleeps.
    std::chrono::microseconds timeout = Remaining(deadline);
    if (port_ != 0) timeout = std::min(timeout, pause);
    if (process_.exit_fd() < 0) {
      timeout = std::min(timeout, std::chrono::microseconds(10000));  // no pidfd: poll the exit
    }
    struct pollfd events[2];
    nfds_t count = 0;
    if (notify_open) events[count++] = {notify_fd, POLLIN, 0};
    if (process_.exit_fd() >= 0) events[count++] = {process_.exit_fd(), POLLIN, 0};
    PollFor(events, count, timeout);
    if (port_ != 0) pause = std::min(pause * 2, longest_pause);

    if (notify_open && (events[0].revents & (POLLIN | POLLHUP))) {
      char buffer[32];
      ssize_t got = RetryOnEintr([&] { return read(notify_fd, buffer, sizeof buffer); });
      if (got <= 0) {
        notify_open = false;
      } else {
        notice.append(buffer, static_cast<size_t>(got));
        size_t newline = notice.find('\n');
        if (newline != std::string::npos) {
          long reported = std::strtol(notice.c_str(), nullptr, 10);
          if (reported <= 0 || reported > 65535) {
            return "it reported an invalid port '" + notice.substr(0, newline) + "'";
          }
          port_ = static_cast<uint16_t>(reported);
          notify_open = false;
          pause = first_pause;
        } else if (notice.size() > 16) {
          return "it wrote garbage to the port pipe";
        }
      }
    }
  }
}

std::string ServerInstance::CheckAlive(const std::string& during) {
  if (!process_.started()) return "";
  std::optional<ExitStatus> status = process_.Peek();
  if (!status) return "";
  const auto ran = Clock::now() - started_at_;
  std::vector<pid_t> left_in_group;
  if (!exit_expected_) left_in_group = process_.OtherGroupMembers();
  process_.Stop(milliseconds(0));
  if (exit_expected_) {
    port_ = 0;
    return "";
  }
  std::string advice;
  std::string daemon = DaemonNote(*status, left_in_group, &advice);
  port_ = 0;
  return Explain("died " + during + ": it " + Describe(*status) + " after running " +
                     FormatDuration(ran) + (daemon.empty() ? "." : daemon),
                 (advice.empty() ? "" : advice + " ") +
                     "Read its log above. Every later test of this binary fails without running.");
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

std::error_code ServerInstance::Signal(int signal) {
  if (!process_.started()) return std::make_error_code(std::errc::no_such_process);
  if (kill(process_.pid(), signal) != 0) return LastError();
  return {};
}

void ServerInstance::Finish(bool remove_temporary_log) {
  Stop();
  activation_socket_.reset();
  activation_port_ = 0;
  last_port_ = 0;
  log_.fd.reset();
  if (remove_temporary_log && log_.temporary && !options_.keep_log && !log_.path.empty()) {
    unlink(log_.path.c_str());
    log_.path.clear();
  }
}

}  // namespace gtest_fork_env::detail
