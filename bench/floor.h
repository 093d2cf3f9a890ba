#pragma once

// The floor of the whole-binary benchmark (process_cost_bench), and the one
// GET its test binary sends: the least a hand-written fork can do to give a
// test a server. fork; the child serves the small server on any port and
// reports the port through a pipe; the parent reads it and sends one
// GET /hello (ready); then SIGTERM and waitpid.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "small_server.h"

namespace bench {

// One GET /hello on a fresh "Connection: close" connection, read to the end,
// with 5 s limits on every socket call. True when the answer is 200 "hello".
// `connected`, when given, is set to when connect() returned.
inline bool GetHelloOnce(uint16_t port,
                         std::chrono::steady_clock::time_point* connected = nullptr) {
  int sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return false;
  struct timeval limit = {5, 0};
  setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  static const char kGet[] = "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  std::string answer;
  const bool linked = connect(sock, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0;
  if (linked && connected) *connected = std::chrono::steady_clock::now();
  if (linked &&
      send(sock, kGet, sizeof kGet - 1, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof kGet - 1)) {
    char buffer[512];
    ssize_t got;
    while (answer.size() < 8192 &&
           ((got = recv(sock, buffer, sizeof buffer, 0)) > 0 || (got < 0 && errno == EINTR))) {
      if (got > 0) answer.append(buffer, static_cast<size_t>(got));
    }
  }
  close(sock);
  return answer.rfind("HTTP/1.1 200", 0) == 0 && answer.size() >= 5 &&
         answer.compare(answer.size() - 5, 5, "hello") == 0;
}

// The floor's server, started by hand: fork; the child serves the small
// server on any port and reports it through a pipe. Fills `pid` and `port`;
// false when a step failed (then a started child has been reaped).
inline bool StartFloorServer(pid_t* pid, uint16_t* port) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  std::fflush(nullptr);
  *pid = fork();
  if (*pid < 0) return false;
  if (*pid == 0) {
    close(fds[0]);
    _exit(ServeSmall("127.0.0.1", 0, fds[1]));
  }
  close(fds[1]);
  char line[16] = {};
  size_t filled = 0;
  ssize_t got;
  while (filled < sizeof line - 1 &&
         ((got = read(fds[0], line + filled, sizeof line - 1 - filled)) > 0 ||
          (got < 0 && errno == EINTR))) {
    if (got > 0) filled += static_cast<size_t>(got);
  }
  close(fds[0]);
  const long reported = std::strtol(line, nullptr, 10);
  if (reported > 0 && reported < 65536) {
    *port = static_cast<uint16_t>(reported);
    return true;
  }
  kill(*pid, SIGKILL);
  while (waitpid(*pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  return false;
}

// Stops it by hand: SIGTERM and waitpid. True when it exited with 0.
inline bool StopFloorServer(pid_t pid) {
  kill(pid, SIGTERM);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// One floor cycle. `start_ns`: fork to GET answered; `stop_ns`: SIGTERM to
// waitpid. False when any step failed.
inline bool FloorForkCycle(long long* start_ns, long long* stop_ns) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  pid_t pid = -1;
  uint16_t port = 0;
  if (!StartFloorServer(&pid, &port)) return false;
  const bool answered = GetHelloOnce(port);
  const auto t1 = Clock::now();
  const bool stopped = StopFloorServer(pid);
  const auto t2 = Clock::now();
  *start_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
  *stop_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t2 - t1).count();
  return answered && stopped;
}

// The floor of a test's clone (issue 19): the least a hand-written fork of
// a warm process can do to serve one test, with the thread an httplib
// server needs. On `listen_fd` (bound and listening once, as a template's
// socket is): fork; the child makes one thread, which accepts one
// connection, reads the request and answers 200 "hello"; the parent's GET
// /hello gets it; then SIGKILL and waitpid. False when any step failed.
inline bool FloorThreadCycle(int listen_fd, uint16_t port) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    std::thread worker([listen_fd] {
      const int client = accept(listen_fd, nullptr, nullptr);
      char request[1024];
      std::string seen;
      ssize_t got;
      while (seen.find("\r\n\r\n") == std::string::npos &&
             (got = read(client, request, sizeof request)) > 0) {
        seen.append(request, static_cast<size_t>(got));
      }
      static const char kAnswer[] =
          "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
      ssize_t wrote = write(client, kAnswer, sizeof kAnswer - 1);
      (void)wrote;
      close(client);
    });
    worker.join();
    pause();  // until the SIGKILL
    _exit(0);
  }
  const bool ok = GetHelloOnce(port);
  kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return ok && WIFSIGNALED(status);
}

}  // namespace bench
