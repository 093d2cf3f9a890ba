// libgtest_fork_env_checkpoint.so: the checkpoint library that
// Options::preload_checkpoint loads into an unmodified program with
// LD_PRELOAD. The program becomes the template of Scope::kTest or kTestSuite
// the first time it waits for a connection on a listening TCP socket: in
// accept/accept4, or in a poll/ppoll/select/pselect/epoll_wait/epoll_pwait
// that includes such a socket. That is the moment a server is warm and
// idle, the place ServerContext::Checkpoint() marks by hand.
//
// Rules for code that lives in any process:
// - nothing happens until the first interposed call, and nothing at all
//   unless the library's variable names the template socket: no static
//   constructor, no thread, no allocation before that;
// - built without exceptions; every interposer keeps the caller's errno;
// - the template side is checkpoint.cc's BecomeTemplate, the same as a
//   server function's Checkpoint(): this file only decides when.

#include <dlfcn.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "checkpoint.h"
#include "template_protocol.h"

namespace {

namespace detail = gtest_fork_env::detail;

// 0: not looked at yet; 1: armed (the socket is in g_channel); 2: nothing
// more to do (no socket, or the checkpoint is behind). Plain ints, zero
// before any code runs: no constructor.
enum State : int { kUnknown = 0, kArmed = 1, kDone = 2 };
int g_state = kUnknown;
int g_channel = -1;

template <typename Function>
Function Real(const char* name) {
  return reinterpret_cast<Function>(dlsym(RTLD_NEXT, name));
}

bool IsListeningTcpSocket(int fd) {
  int value = 0;
  socklen_t size = sizeof value;
  if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &size) != 0 || !value) {
    return false;
  }
  size = sizeof value;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &value, &size) != 0) return false;
  return value == AF_INET || value == AF_INET6;
}

// Whether the epoll instance `epfd` watches a listening TCP socket: the
// kernel lists its targets in /proc/self/fdinfo ("tfd: <fd> events: ...").
bool EpollWatchesListeningSocket(int epfd) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/fdinfo/%d", epfd);
  FILE* file = std::fopen(path, "re");
  if (!file) return false;
  bool found = false;
  char line[256];
  while (!found && std::fgets(line, sizeof line, file)) {
    int target = -1;
    if (std::sscanf(line, "tfd: %d", &target) == 1) found = IsListeningTcpSocket(target);
  }
  std::fclose(file);
  return found;
}

// Removes this library from LD_PRELOAD (keeping what else the user
// preloads), so that nothing the template or a clone runs later loads it.
void DropSelfFromPreload() {
  const char* preload = getenv("LD_PRELOAD");
  if (!preload) return;
  std::string kept;
  const char* begin = preload;
  while (*begin) {
    const char* end = begin + std::strcspn(begin, ": ");
    const std::string entry(begin, static_cast<size_t>(end - begin));
    if (!entry.empty() && entry.find("libgtest_fork_env_checkpoint") == std::string::npos) {
      if (!kept.empty()) kept += ':';
      kept += entry;
    }
    begin = *end ? end + 1 : end;
  }
  if (kept.empty()) {
    unsetenv("LD_PRELOAD");
  } else {
    setenv("LD_PRELOAD", kept.c_str(), 1);
  }
}

bool Armed() {
  if (g_state == kUnknown) {
    g_channel = detail::TakeTemplateChannel(/*announce_linked=*/false);
    g_state = g_channel >= 0 ? kArmed : kDone;
  }
  return g_state == kArmed;
}

// Called when the program is about to wait on a listening socket: the
// template never returns from here, each clone does, and then waits as the
// program asked.
//
// A clone finds its data directory in $GTEST_FORK_ENV_DATA_DIR (the
// template's is there before). A template that works in its data directory
// (Options::working_dir "{data_dir}") has each clone work in its own: files
// it opens by relative paths after the checkpoint are then the test's own.
void Checkpoint() {
  g_state = kDone;  // BecomeTemplate's own ppoll comes through here too
  DropSelfFromPreload();
  char cwd[4096];
  const char* template_dir = getenv(detail::kDataDirVariable);
  const bool works_in_data_dir = template_dir && getcwd(cwd, sizeof cwd) &&
                                 std::strcmp(cwd, template_dir) == 0;
  std::string data_dir;
  if (detail::BecomeTemplate(g_channel, &data_dir)) {
    setenv(detail::kDataDirVariable, data_dir.c_str(), 1);
    if (works_in_data_dir && chdir(data_dir.c_str()) != 0) {
      std::fprintf(stderr, "gtest_fork_env: clone %d cannot work in its data directory %s: %s\n",
                   getpid(), data_dir.c_str(), std::strerror(errno));
    }
  }
  g_channel = -1;
}

// Checks `waits_on_listener` only while armed, keeping errno.
template <typename Check>
void CheckpointIf(Check waits_on_listener) {
  if (g_state == kDone) return;
  const int saved = errno;
  if (Armed() && waits_on_listener()) Checkpoint();
  errno = saved;
}

bool AnyListening(const struct pollfd* fds, nfds_t count) {
  for (nfds_t i = 0; i < count; ++i) {
    if ((fds[i].events & POLLIN) && IsListeningTcpSocket(fds[i].fd)) return true;
  }
  return false;
}

bool AnyListening(int count, const fd_set* read_set) {
  for (int fd = 0; read_set && fd < count && fd < FD_SETSIZE; ++fd) {
    if (FD_ISSET(fd, read_set) && IsListeningTcpSocket(fd)) return true;
  }
  return false;
}

}  // namespace

// Only the interposed calls are seen from outside; everything else here,
// and the server library's code in this object, is hidden.
#define GTEST_FORK_ENV_INTERPOSED __attribute__((visibility("default")))

extern "C" {

GTEST_FORK_ENV_INTERPOSED int accept(int fd, struct sockaddr* address, socklen_t* length) {
  static auto real = Real<int (*)(int, struct sockaddr*, socklen_t*)>("accept");
  CheckpointIf([fd] { return IsListeningTcpSocket(fd); });
  return real(fd, address, length);
}

GTEST_FORK_ENV_INTERPOSED int accept4(int fd, struct sockaddr* address, socklen_t* length, int flags) {
  static auto real = Real<int (*)(int, struct sockaddr*, socklen_t*, int)>("accept4");
  CheckpointIf([fd] { return IsListeningTcpSocket(fd); });
  return real(fd, address, length, flags);
}

GTEST_FORK_ENV_INTERPOSED int poll(struct pollfd* fds, nfds_t count, int timeout) {
  static auto real = Real<int (*)(struct pollfd*, nfds_t, int)>("poll");
  CheckpointIf([fds, count] { return AnyListening(fds, count); });
  return real(fds, count, timeout);
}

GTEST_FORK_ENV_INTERPOSED int ppoll(struct pollfd* fds, nfds_t count, const struct timespec* timeout,
          const sigset_t* mask) {
  static auto real =
      Real<int (*)(struct pollfd*, nfds_t, const struct timespec*, const sigset_t*)>("ppoll");
  CheckpointIf([fds, count] { return AnyListening(fds, count); });
  return real(fds, count, timeout, mask);
}

GTEST_FORK_ENV_INTERPOSED int select(int count, fd_set* read_set, fd_set* write_set, fd_set* error_set,
           struct timeval* timeout) {
  static auto real =
      Real<int (*)(int, fd_set*, fd_set*, fd_set*, struct timeval*)>("select");
  CheckpointIf([count, read_set] { return AnyListening(count, read_set); });
  return real(count, read_set, write_set, error_set, timeout);
}

GTEST_FORK_ENV_INTERPOSED int pselect(int count, fd_set* read_set, fd_set* write_set, fd_set* error_set,
            const struct timespec* timeout, const sigset_t* mask) {
  static auto real = Real<int (*)(int, fd_set*, fd_set*, fd_set*, const struct timespec*,
                                  const sigset_t*)>("pselect");
  CheckpointIf([count, read_set] { return AnyListening(count, read_set); });
  return real(count, read_set, write_set, error_set, timeout, mask);
}

GTEST_FORK_ENV_INTERPOSED int epoll_wait(int epfd, struct epoll_event* events, int max_events, int timeout) {
  static auto real = Real<int (*)(int, struct epoll_event*, int, int)>("epoll_wait");
  CheckpointIf([epfd] { return EpollWatchesListeningSocket(epfd); });
  return real(epfd, events, max_events, timeout);
}

GTEST_FORK_ENV_INTERPOSED int epoll_pwait(int epfd, struct epoll_event* events, int max_events, int timeout,
                const sigset_t* mask) {
  static auto real =
      Real<int (*)(int, struct epoll_event*, int, int, const sigset_t*)>("epoll_pwait");
  CheckpointIf([epfd] { return EpollWatchesListeningSocket(epfd); });
  return real(epfd, events, max_events, timeout, mask);
}

}  // extern "C"
