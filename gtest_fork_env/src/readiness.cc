// ServerInstance's readiness wait: the port report, the template protocol's
// first message, the probes, and the words for what they saw.

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "checkpoint_library.h"
#include "gtest_fork_env/url.h"
#include "server_instance.h"
#include "test_runner.h"

namespace gtest_fork_env::detail {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::microseconds;
using std::chrono::milliseconds;

constexpr microseconds kFirstPause{500};
constexpr microseconds kLongestPause{2000};
// A server that reported its port under Scope::kTest may be on its way to
// Checkpoint() (ServeHttplib calls it right after): how long to wait for
// that before taking it for a server that does not checkpoint. Paid once per
// binary by such a server; its later starts know.
constexpr milliseconds kCheckpointGrace{50};

// poll() with a timeout finer than a millisecond where ppoll() exists: the
// first probe pauses are 0.5 ms.
void PollFor(struct pollfd* events, nfds_t count, microseconds timeout) {
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

void ProbeTally::Add(const std::string& reason, bool cut_short) {
  ++attempts_;
  if (cut_short) {
    ++cut_short_;
    last_cut_short_ = reason;
    return;
  }
  last_complete_ = reason;
  auto found = std::find_if(reasons_.begin(), reasons_.end(),
                            [&](const auto& entry) { return entry.first == reason; });
  if (found == reasons_.end()) {
    reasons_.emplace_back(reason, 1);
  } else {
    ++found->second;
  }
  const bool all_status = std::all_of(reasons_.begin(), reasons_.end(), [](const auto& entry) {
    return entry.first.compare(0, 7, "status ") == 0;
  });
  status_seen_ = all_status ? last_complete_ : "";
}

std::string ProbeTally::Describe() const {
  if (attempts_ == 0) return "never tried";
  const std::string cut =
      cut_short_ == 0 ? "" : " (" + std::to_string(cut_short_) + " more cut short by the deadline)";
  if (reasons_.empty()) {
    return "failed: every attempt was cut short by the deadline, the last: " + last_cut_short_;
  }
  const int complete = attempts_ - cut_short_;
  if (reasons_.size() == 1) {
    const std::string& reason = reasons_.front().first;
    if (reason.compare(0, 7, "status ") == 0) {
      return "answered " + reason + " to all " + std::to_string(complete) + " attempt(s)" + cut;
    }
    return "failed: " + reason + " on all " + std::to_string(complete) + " attempt(s)" + cut;
  }
  std::string text = "failed " + std::to_string(complete) + " times: ";
  for (size_t i = 0; i < reasons_.size() && i < 4; ++i) {
    text += (i ? ", " : "") + reasons_[i].first + " (" + std::to_string(reasons_[i].second) + ")";
  }
  return text + "; last complete: " + last_complete_ + cut;
}

ServerInstance::Readiness ServerInstance::WaitUntilReady(int notify_fd, int control_fd) {
  Readiness outcome;
  const auto deadline = ReadinessDeadline(started_at_ + options_.start_timeout);  // test_runner.h
  std::string notice;  // the partial "<port>\n" line
  bool notify_open = notify_fd >= 0;
  auto pause = kFirstPause;
  tally_ = ProbeTally();
  for (;;) {
    const bool awaiting = control_fd >= 0 && checkpointing_ == Checkpointing::kUnknown;
    if (port_ != 0 && awaiting && !AwaitCheckpointBeforeProbe(control_fd, outcome)) {
      return outcome;
    }
    if (port_ != 0 && awaiting && options_.preload_checkpoint) {
      if (!WatchPreload(control_fd, outcome)) return outcome;
    } else if (port_ != 0 && !outcome.checkpointed && ProbeUntilReady(awaiting, control_fd,
                                                                        deadline, outcome)) {
      return outcome;
    }
    if (outcome.checkpointed || outcome.decisive) return outcome;
    const bool exited = process_.Peek().has_value();
    if (exited && !ReadWhatItLeft(notify_open ? notify_fd : -1, notice, control_fd, outcome)) {
      return outcome;
    }
    if (exited || Clock::now() >= deadline) {
      outcome.waited_for = DescribeWait();
      if (!exited && awaiting && options_.preload_checkpoint) {
        outcome.decisive = ExplainPreloadTimeout(outcome);
      }
      return outcome;
    }
    // Wait for the port, a message, the child's exit or the next probe,
    // whichever comes first: no fixed sleeps.
    microseconds timeout = Remaining(deadline);
    if (port_ != 0) timeout = std::min(timeout, microseconds(pause));
    if (process_.exit_fd() < 0) timeout = std::min(timeout, microseconds(10000));
    struct pollfd events[3];
    nfds_t count = 0;
    if (notify_open) events[count++] = {notify_fd, POLLIN, 0};
    if (control_fd >= 0) events[count++] = {control_fd, POLLIN, 0};
    if (process_.exit_fd() >= 0) events[count++] = {process_.exit_fd(), POLLIN, 0};
    PollFor(events, count, timeout);
    if (port_ != 0) pause = std::min(pause * 2, kLongestPause);
    if (notify_open && events[0].revents && !ReadPortNotice(notify_fd, notice, notify_open, outcome)) {
      return outcome;
    }
    if (control_fd >= 0 && !ReadControl(control_fd, outcome)) return outcome;
  }
}

// One probe: true when the wait is over (ready, or it turned out to be a
// template, or failed). A passing probe counts only while the server lives:
// a program that daemonized can pass it from a process we do not watch.
bool ServerInstance::ProbeUntilReady(bool awaiting, int control_fd,
                                     Clock::time_point deadline, Readiness& outcome) {
  const bool long_left = Remaining(deadline) > milliseconds(1000);
  std::string failure = ProbeOnce();
  if (failure.empty() && !process_.Peek()) {
    // A program that links the library may have begun to listen between
    // AwaitCheckpointBeforeProbe's connect and this probe: it said "linked"
    // before it listened, so that is known now, and it may be a template.
    if (awaiting && mode_ == Mode::kExec && !AwaitLinkedCheckpoint(control_fd, outcome)) {
      return true;
    }
    outcome.ready = true;
    return true;
  }
  if (!outcome.decisive) {
    tally_.Add(failure.empty() ? "the probe passed, but the process had exited" : failure,
               !long_left && Clock::now() >= deadline);
  }
  return false;
}

// Before a probe of a server that may become a template, which would never
// answer it: false (with `outcome` updated) when it became one or failed.
// A server function that reported its port may be on its way to
// Checkpoint(). A program's port is known before the program binds it: a
// program that links the library says "linked" when it makes its
// ServerContext and reports its checkpoint right after it listens
// (ServeHttplib does), so the grace starts once it listens, for it alone;
// under preload_checkpoint, WatchPreload waits instead.
bool ServerInstance::AwaitCheckpointBeforeProbe(int control_fd, Readiness& outcome) {
  if (mode_ != Mode::kExec) return AwaitCheckpoint(control_fd, outcome);
  if (options_.preload_checkpoint) return true;
  if (!TcpConnectOnce(options_.host, port_, milliseconds(100)).ok) return true;
  return AwaitLinkedCheckpoint(control_fd, outcome);
}

// Exec mode, the program listens: a program that links the library said so
// before it listened, and gets the grace; any other program is no template,
// and is probed at once. Returns as AwaitCheckpoint.
bool ServerInstance::AwaitLinkedCheckpoint(int control_fd, Readiness& outcome) {
  if (!ReadControl(control_fd, outcome)) return false;
  if (!outcome.linked) {
    checkpointing_ = Checkpointing::kNo;
    return true;
  }
  return AwaitCheckpoint(control_fd, outcome);
}

// Waits up to kCheckpointGrace for a server that reported its port to reach
// Checkpoint(): false (with `outcome` updated) when it reached it or failed;
// true, and known for the next starts, when it did not.
bool ServerInstance::AwaitCheckpoint(int control_fd, Readiness& outcome) {
  if (checkpointing_ == Checkpointing::kNo) return true;
  const auto until = Clock::now() + kCheckpointGrace;
  for (;;) {
    if (!ReadControl(control_fd, outcome)) return false;  // reached it, or failed
    if (process_.Peek()) return true;  // the wait loop tells how it ended
    if (Clock::now() >= until) break;
    struct pollfd events[2] = {{control_fd, POLLIN, 0}, {process_.exit_fd(), POLLIN, 0}};
    PollFor(events, process_.exit_fd() >= 0 ? 2 : 1,
            std::chrono::duration_cast<microseconds>(until - Clock::now()));
  }
  checkpointing_ = Checkpointing::kNo;
  return true;
}

// A server that exited may have written its port or a template message
// just before, after this wait last looked: read them, so that the message
// says what it reported (a threaded checkpoint, say) and not what the wait
// had seen. False when that ends the wait (as ReadControl).
bool ServerInstance::ReadWhatItLeft(int notify_fd, std::string& notice, int control_fd,
                                    Readiness& outcome) {
  struct pollfd event = {notify_fd, POLLIN, 0};
  bool open = notify_fd >= 0;
  // Only when readable: a process the server started may still hold the pipe.
  while (open && poll(&event, 1, 0) > 0 && port_ == 0) {
    if (!ReadPortNotice(notify_fd, notice, open, outcome)) return false;
  }
  return control_fd < 0 || ReadControl(control_fd, outcome);
}

bool ServerInstance::ReadPortNotice(int notify_fd, std::string& notice, bool& open,
                                    Readiness& outcome) {
  char buffer[32];
  ssize_t got = RetryOnEintr([&] { return read(notify_fd, buffer, sizeof buffer); });
  if (got <= 0) {
    open = false;
    return true;
  }
  notice.append(buffer, static_cast<size_t>(got));
  size_t newline = notice.find('\n');
  if (newline == std::string::npos) {
    if (notice.size() <= 16) return true;
    outcome.waited_for = "it wrote garbage to the port pipe";
    return false;
  }
  long reported = std::strtol(notice.c_str(), nullptr, 10);
  if (reported <= 0 || reported > 65535) {
    outcome.waited_for = "it reported an invalid port '" + notice.substr(0, newline) + "'";
    return false;
  }
  port_ = static_cast<uint16_t>(reported);
  open = false;
  return true;
}

// Reads what the template protocol brought; false when the wait is over.
bool ServerInstance::ReadControl(int control_fd, Readiness& outcome) {
  struct pollfd event = {control_fd, POLLIN, 0};
  if (poll(&event, 1, 0) <= 0) return true;
  control_reader_.Fill(control_fd);  // at end-of-file the process's exit tells
  TemplateMessage message;
  while (control_reader_.Next(&message)) {
    if (message.kind == TemplateMessage::Kind::kLinked) outcome.linked = true;
    if (message.kind == TemplateMessage::Kind::kCheckpoint) {
      checkpointing_ = Checkpointing::kYes;
      outcome.checkpointed = true;
      return false;
    }
    if (message.kind == TemplateMessage::Kind::kThreads && options_.preload_checkpoint) {
      outcome.decisive = Explain(
          "had " + std::to_string(message.number) +
              " threads when it first waited for a connection, so the checkpoint library "
              "(Options::preload_checkpoint) cannot make it a template: a forked copy of a "
              "threaded process can inherit a lock that another thread holds, and hang. It "
              "was not forked.",
          "drop Options::preload_checkpoint, to start the program anew for each test; or "
          "make it start its threads only after it accepts a connection.");
      return false;
    }
    if (message.kind == TemplateMessage::Kind::kThreads) {
      outcome.decisive = Explain(
          "reached ServerContext::Checkpoint() with " + std::to_string(message.number) +
              " threads, so it cannot be the template of Scope::kTest or kTestSuite: a forked "
              "copy of a threaded process can inherit a lock that another thread holds, and "
              "hang. It was not forked.",
          "start threads (a thread pool, an async logger, a watcher) after Checkpoint(); "
          "ServeHttplib starts httplib's after it. Or use Scope::kBinary.");
      return false;
    }
  }
  return true;
}

// Options::preload_checkpoint, before the checkpoint: the program is not
// probed for readiness (a template never answers), only for whether it
// listens; a program that listens without the checkpoint library loaded
// will never become a template, and the start fails at once, saying why.
bool ServerInstance::WatchPreload(int control_fd, Readiness& outcome) {
  if (outcome.preload_loaded) return true;
  if (!TcpConnectOnce(options_.host, port_, milliseconds(100)).ok || process_.Peek()) return true;
  const std::optional<bool> mapped = HasMapped(process_.pid(), checkpoint_library_);
  if (mapped.value_or(true)) {
    outcome.preload_loaded = mapped.has_value();
    return true;
  }
  // What it reported just before (its threads, say) tells more, and an exit
  // meanwhile is for the wait to explain.
  if (!ReadControl(control_fd, outcome)) return false;
  if (process_.Peek()) return true;
  std::string why = WhyNotPreloadable(process_.pid());
  if (why.empty()) why = "the dynamic loader did not load it (is LD_PRELOAD reset on the way?)";
  outcome.decisive = Explain(
      "listens on " + options_.host + ":" + std::to_string(port_) +
          ", but the checkpoint library (Options::preload_checkpoint) did not take hold in it: " +
          why + ". It cannot become a template, and was stopped.",
      "drop Options::preload_checkpoint, to start the program anew for each test; or link "
      "gtest_fork_env's server library into it and call ServerContext::Checkpoint().");
  return false;
}

// Options::preload_checkpoint: start_timeout ran out before the checkpoint,
// with the program alive.
std::string ServerInstance::ExplainPreloadTimeout(const Readiness& outcome) const {
  const std::string within = " within start_timeout (" + FormatDuration(options_.start_timeout) + ")";
  if (!outcome.preload_loaded && !HasMapped(process_.pid(), checkpoint_library_).value_or(true)) {
    std::string why = WhyNotPreloadable(process_.pid());
    if (why.empty()) why = "the dynamic loader did not load it";
    return Explain("did not become a template" + within +
                       ": the checkpoint library (Options::preload_checkpoint) did not take "
                       "hold in it: " + why + ". It was killed.",
                   "drop Options::preload_checkpoint, to start the program anew for each test.");
  }
  return Explain("never waited for a connection on a listening TCP socket" + within +
                     ", so the checkpoint library (Options::preload_checkpoint) never made it "
                     "a template. It was killed." +
                     TestTimeoutNote(started_at_ + options_.start_timeout),
                 "check that it listens on " + options_.host + ":" + std::to_string(port_) +
                     " (its {port}) and waits there with accept, poll, select or epoll; raise "
                     "Options::start_timeout if its warm-up takes longer; or drop "
                     "preload_checkpoint to start it anew for each test.");
}

std::string ServerInstance::DescribeWait() const {
  if (port_ == 0) return "it never reported its port through ServerContext::NotifyListening";
  return DescribeProbe() + (tally_.attempts() == 0 ? ": " : " ") + tally_.Describe();
}

std::string ServerInstance::KeepDiagnosis(const ProbeResult& result) {
  if (result.ok) return "";
  // The last attempt is often cut short by start_timeout (at connect, in the
  // handshake or before the status line); a diagnosis of an earlier,
  // complete one says more.
  const bool cut_short = result.reason.find("timed out") != std::string::npos ||
                         result.reason.find("no status line within") != std::string::npos;
  if (result.advice.empty() && !probe_advice_.empty() && cut_short) {
    return probe_reason_;
  }
  probe_reason_ = result.reason;
  probe_advice_ = result.advice;
  return result.reason;
}

TlsClientFiles ServerInstance::ProbeTlsFiles() const {
  TlsClientFiles files;
  if (!options_.tls) return files;
  files.ca_cert = tls_.ca_cert();
  if (options_.tls_client_auth) {
    files.client_cert = tls_.client_cert();
    files.client_key = tls_.client_key();
  }
  return files;
}

std::string ServerInstance::DescribeProbe() const {
  const Probe& probe = options_.probe;
  const std::string target = options_.host + ":" + std::to_string(port_);
  switch (probe.kind) {
    case Probe::Kind::kHttpGet:
      return "HTTP GET " + FormatUrl(options_.tls ? "https" : "http", options_.host, port_) +
             probe.http_path + " expecting " + std::to_string(probe.min_status) + "-" +
             std::to_string(probe.max_status);
    case Probe::Kind::kLogLine:
      return "waiting for a line of its output to match /" + probe.log_pattern + "/";
    case Probe::Kind::kPredicate:
      return "the readiness predicate for " + target;
    default:
      return options_.tls ? "TLS handshake with " + target + " verified against the test CA"
                          : "TCP connect to " + target;
  }
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
      // Under TLS a connection proves nothing: the handshake must verify.
      ProbeResult result = options_.tls
                               ? TlsHandshakeOnce(options_.host, port_, ProbeTlsFiles(), timeout)
                               : TcpConnectOnce(options_.host, port_, timeout);
      return KeepDiagnosis(result);
    }
    case Probe::Kind::kHttpGet: {
      ProbeResult result = HttpGetOnce(options_.host, port_, probe.http_path, probe.min_status,
                                       probe.max_status, timeout, ProbeTlsFiles());
      return KeepDiagnosis(result);
    }
    case Probe::Kind::kLogLine:
      return ProbeLogLine();
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

// Reads only what the server wrote since the last attempt; the pattern was
// compiled at the first start.
std::string ServerInstance::ProbeLogLine() {
  if (!log_pattern_) return "no pattern";
  long long read_to = log_scan_offset_;
  std::string added =
      log_partial_line_ + ReadFrom(log_.path, log_scan_offset_, 1024 * 1024, &read_to);
  log_scan_offset_ = std::max(read_to, log_scan_offset_);
  size_t begin = 0;
  for (size_t end; (end = added.find('\n', begin)) != std::string::npos; begin = end + 1) {
    if (std::regex_search(added.begin() + static_cast<long>(begin),
                          added.begin() + static_cast<long>(end), *log_pattern_)) {
      return "";
    }
  }
  log_partial_line_ = added.substr(begin);
  // A last line without its newline yet counts too.
  if (std::regex_search(log_partial_line_, *log_pattern_)) return "";
  return "no line of its output matched";
}

}  // namespace gtest_fork_env::detail
