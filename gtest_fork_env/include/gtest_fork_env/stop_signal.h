#pragma once

#include <functional>
#include <memory>
#include <system_error>

namespace gtest_fork_env {

// Turns the stop signals (SIGTERM, SIGINT) into work on an ordinary thread,
// so a server can stop gracefully without running unsafe code in a signal
// handler. The handler only writes one byte to a pipe (the self-pipe trick);
// a watcher thread reads it and calls `stop`. Use it in the server process
// (the child), never in the test binary.
//
// `stop` returns whether it could stop the server. It is retried every
// millisecond until it returns true or the watcher is destroyed, which closes
// the gap in which a server library would lose a stop that arrives before it
// runs (httplib 0.11's Server::stop() before listen_after_bind()).
class StopSignalWatcher {
 public:
  // Installs the handlers (once per process; they stay) and starts the
  // watcher thread.
  // Errors: error() is set when the pipe, the handlers or the thread could
  // not be made; the signals then keep their previous effect.
  explicit StopSignalWatcher(std::function<bool()> stop);
  // Stops and joins the watcher thread. Does not run `stop`.
  ~StopSignalWatcher();
  StopSignalWatcher(const StopSignalWatcher&) = delete;
  StopSignalWatcher& operator=(const StopSignalWatcher&) = delete;

  // Whether a stop signal has arrived.
  bool stop_requested() const;
  std::error_code error() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace gtest_fork_env
