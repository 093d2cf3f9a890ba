#include "server_instance.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "logger.h"
#include "probe.h"

namespace gtest_fork_env::detail {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

const char* ModeName(SpawnMode mode) {
  return mode == SpawnMode::kReexec ? "re-exec mode" : "fork mode";
}

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

std::string ServerInstance::Explain(const std::string& what, const std::string& advice) const {
  std::string message = "server '" + options_.name + "' (pid " +
                        std::to_string(last_pid_) + ", " + ModeName(mode_used_) + ") " + what +
                        "\n";
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

std::string ServerInstance::Start(const ServerMain& server_main, int reexec_index) {
  port_ = 0;
  last_pid_ = -1;
  if (auto error = OpenLogFile(options_.log_path, options_.name, log_)) {
    return "server '" + options_.name + "' was not started: cannot open its log " +
           (options_.log_path.empty() ? "in $TMPDIR" : "file " + options_.log_path) + ": " +
           error.message() + "\nWhat to do: point Options::log_path or TMPDIR at a writable place.";
  }
  UniqueFd notify_read, notify_write;
  if (auto error = MakePipe(notify_read, notify_write)) {
    return "server '" + options_.name + "' was not started: pipe: " +
           error.message() + "\nWhat to do: check the descriptor limit (ulimit -n).";
  }

  const size_t threads = CountThreads();
  mode_used_ = options_.spawn_mode;
  if (mode_used_ == SpawnMode::kAuto) {
    mode_used_ = threads > 1 ? SpawnMode::kReexec : SpawnMode::kFork;
  }
#if !defined(__linux__)
  if (mode_used_ == SpawnMode::kReexec) {
    // Re-exec needs /proc/self/exe and /proc/self/cmdline.
    Log().warn("server '{}': re-exec mode needs Linux; forking with {} threads", options_.name,
               threads);
    mode_used_ = SpawnMode::kFork;
  }
#endif
  if (mode_used_ == SpawnMode::kFork && threads > 1) {
    static bool warned = false;
    if (!warned) {
      warned = true;
      Log().warn(
          "server '{}': forking a test binary that has {} threads (Options::spawn_mode is kFork); "
          "a lock held by another thread stays locked in the server forever. Use kAuto or kReexec.",
          options_.name, threads);
    }
  }
  Log().debug("server '{}': starting in {} ({} thread(s) in the test binary)", options_.name,
              ModeName(mode_used_), threads);

  SpawnRequest request;
  request.output_fd = log_.fd.get();
  const int notify_fd = notify_write.get();
  if (mode_used_ == SpawnMode::kFork) {
    const int notify_read_fd = notify_read.get();
    request.function = [this, &server_main, notify_fd, notify_read_fd] {
      close(notify_read_fd);
      ServerContext context(options_.name, options_.host, options_.port, notify_fd);
      return server_main(context);
    };
  } else {
    request.argv = OwnCommandLine();
    request.program = "/proc/self/exe";
    request.env.push_back(std::string(kServeVariable) + "=" + std::to_string(reexec_index) + ":" +
                          std::to_string(notify_fd) + ":" + options_.name);
    request.inherit_fds.push_back(notify_fd);
  }

  started_at_ = Clock::now();
  std::string failed_step;
  if (auto error = process_.Start(request, &failed_step)) {
    return "server '" + options_.name + "' was not started: " + failed_step +
           " failed: " + error.message() +
           "\nWhat to do: check the limits on processes and descriptors (ulimit -u, ulimit -n).";
  }
  last_pid_ = process_.pid();
  // From here only the child holds the write end: end-of-file means it closed
  // it or exited.
  notify_write.reset();

  std::string waited_for = WaitUntilReady(notify_read.get());
  if (waited_for.empty()) {
    Log().debug("server '{}' (pid {}) ready on {}:{} after {}", options_.name, last_pid_,
                options_.host, port_, FormatDuration(Clock::now() - started_at_));
    return "";
  }
  const auto ran = Clock::now() - started_at_;
  std::optional<ExitStatus> status = process_.Peek();
  process_.Stop(milliseconds(0));
  port_ = 0;
  if (status) {
    return Explain(Describe(*status) + " after " + FormatDuration(ran) +
                       ", before it was ready (" + waited_for + ").",
                   "read its log above; a server function must listen, call "
                   "NotifyListening(port) and serve until SIGTERM (ServeHttplib does all three).");
  }
  return Explain("was not ready within start_timeout (" + FormatDuration(options_.start_timeout) +
                     "): " + waited_for + ". It was killed.",
                 "if it is only slow, raise Options::start_timeout; otherwise check that it "
                 "listens on the host and port its ServerContext gives and reports the port.");
}

std::string ServerInstance::ProbeOnce() {
  const Probe& probe = options_.probe;
  if (probe.kind == Probe::Kind::kNone) return "";
  const milliseconds timeout = std::clamp(Remaining(started_at_ + options_.start_timeout),
                                          milliseconds(1), milliseconds(1000));
  ProbeResult result =
      probe.kind == Probe::Kind::kHttpGet
          ? HttpGetOnce(options_.host, port_, probe.http_path, probe.min_status, probe.max_status,
                        timeout)
          : TcpConnectOnce(options_.host, port_, timeout);
  return result.ok ? "" : result.reason;
}

std::string ServerInstance::WaitUntilReady(int notify_fd) {
  const auto deadline = started_at_ + options_.start_timeout;
  const auto first_pause = std::chrono::microseconds(500);
  const auto longest_pause = std::chrono::microseconds(20000);
  port_ = options_.port;
  std::string notice;  // the partial "<port>\n" line
  bool notify_open = true;
  auto pause = first_pause;
  int attempts = 0;
  std::string last_failure;

  auto describe_wait = [&]() -> std::string {
    if (port_ == 0) {
      return "it never reported its port through ServerContext::NotifyListening";
    }
    const Probe& probe = options_.probe;
    std::string target = options_.host + ":" + std::to_string(port_);
    std::string what = probe.kind == Probe::Kind::kHttpGet
                           ? "HTTP GET http://" + target + probe.http_path + " expecting " +
                                 std::to_string(probe.min_status) + "-" +
                                 std::to_string(probe.max_status)
                           : "TCP connect to " + target;
    return what + " failed " + std::to_string(attempts) + " time(s), last: " + last_failure;
  };

  for (;;) {
    if (port_ != 0) {
      std::string failure = ProbeOnce();
      ++attempts;
      if (failure.empty()) return "";
      last_failure = failure;
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

    if (notify_open && count > 0 && (events[0].revents & (POLLIN | POLLHUP))) {
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
  process_.Stop(milliseconds(0));
  port_ = 0;
  return Explain("died " + during + ": it " + Describe(*status) + " after running " +
                     FormatDuration(ran) + ".",
                 "read its log above. Every later test of this binary fails without running.");
}

bool ServerInstance::IsAlive() const { return process_.started() && !process_.Peek(); }

ServerInstance::StopOutcome ServerInstance::Stop() {
  StopOutcome outcome;
  if (!process_.started()) return outcome;
  const auto begin = Clock::now();
  outcome.was_running = true;
  outcome.status = process_.Stop(options_.stop_timeout, &outcome.forced);
  outcome.elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - begin);
  port_ = 0;
  return outcome;
}

void ServerInstance::RemoveTemporaryLog() {
  if (log_.temporary && !options_.keep_log && !log_.path.empty()) {
    unlink(log_.path.c_str());
    log_.path.clear();
    log_.fd.reset();
    log_.temporary = false;
  }
}

}  // namespace gtest_fork_env::detail
