#include "gtest_fork_env/stop_signal.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>

#include "unique_fd.h"

namespace gtest_fork_env {
namespace {

// The write end the handler uses. One per process, never closed, so a
// signal can never write into a descriptor number that was reused.
std::atomic<int> g_signal_write_fd{-1};
int g_signal_read_fd = -1;

extern "C" void OnStopSignal(int) {
  int saved_errno = errno;
  char byte = 1;
  ssize_t ignored = write(g_signal_write_fd.load(), &byte, 1);
  (void)ignored;
  errno = saved_errno;
}

std::error_code InstallHandlers() {
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  if (g_signal_write_fd.load() >= 0) return {};
  detail::UniqueFd read_end, write_end;
  if (auto error = detail::MakePipe(read_end, write_end)) return error;
  // Non-blocking write end: a burst of signals must never block the handler.
  fcntl(write_end.get(), F_SETFL, O_NONBLOCK);
  fcntl(read_end.get(), F_SETFL, O_NONBLOCK);
  g_signal_read_fd = read_end.release();
  g_signal_write_fd = write_end.release();
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  if (sigaction(SIGTERM, &action, nullptr) != 0 || sigaction(SIGINT, &action, nullptr) != 0) {
    return detail::LastError();
  }
  return {};
}

}  // namespace

struct StopSignalWatcher::State {
  std::function<bool()> stop;
  std::error_code error;
  std::atomic<bool> stop_requested{false};
  detail::UniqueFd quit_read, quit_write;  // wakes the thread on destruction
  std::thread thread;

  void Run() {
    bool stopped = false;
    for (;;) {
      struct pollfd events[2] = {{g_signal_read_fd, POLLIN, 0}, {quit_read.get(), POLLIN, 0}};
      // Once a stop was requested but not yet done, retry every millisecond.
      int timeout = stop_requested && !stopped ? 1 : -1;
      if (detail::RetryOnEintr([&] { return poll(events, 2, timeout); }) < 0) return;
      if (events[1].revents) return;
      if (events[0].revents) {
        char buffer[64];
        while (read(g_signal_read_fd, buffer, sizeof buffer) > 0) {
        }
        stop_requested = true;
      }
      if (stop_requested && !stopped) stopped = stop();
    }
  }
};

StopSignalWatcher::StopSignalWatcher(std::function<bool()> stop) : state_(new State) {
  state_->stop = std::move(stop);
  if ((state_->error = InstallHandlers())) return;
  if ((state_->error = detail::MakePipe(state_->quit_read, state_->quit_write))) return;
  try {
    state_->thread = std::thread([state = state_.get()] { state->Run(); });
  } catch (const std::system_error& error) {
    state_->error = error.code();
  }
}

StopSignalWatcher::~StopSignalWatcher() {
  if (state_->thread.joinable()) {
    char byte = 1;
    detail::WriteAll(state_->quit_write.get(), &byte, 1);
    state_->thread.join();
  }
}

bool StopSignalWatcher::stop_requested() const { return state_->stop_requested; }
std::error_code StopSignalWatcher::error() const { return state_->error; }

}  // namespace gtest_fork_env
