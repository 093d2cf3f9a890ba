// A small HTTP server that takes its listening socket by systemd's socket
// activation protocol, as sd_listen_fds(3) does: LISTEN_PID must be its own
// pid, LISTEN_FDS the number of sockets from descriptor 3 on. It answers
// every request with "activated <pid> <LISTEN_FDNAMES>" and exits on SIGTERM.

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

int main() {
  const char* listen_pid = std::getenv("LISTEN_PID");
  const char* listen_fds = std::getenv("LISTEN_FDS");
  const char* names = std::getenv("LISTEN_FDNAMES");
  if (!listen_pid || std::atol(listen_pid) != getpid()) {
    std::fprintf(stderr, "LISTEN_PID is %s, not my pid %d\n", listen_pid ? listen_pid : "unset",
                 getpid());
    return 2;
  }
  if (!listen_fds || std::string(listen_fds) != "1") {
    std::fprintf(stderr, "LISTEN_FDS is %s, expected 1\n", listen_fds ? listen_fds : "unset");
    return 2;
  }
  int type = 0;
  socklen_t length = sizeof type;
  if (getsockopt(3, SOL_SOCKET, SO_TYPE, &type, &length) != 0 || type != SOCK_STREAM) {
    std::fprintf(stderr, "descriptor 3 is not a stream socket\n");
    return 2;
  }
  std::printf("activated on descriptor 3 as '%s'\n", names ? names : "");
  std::fflush(stdout);
  const std::string body = "activated " + std::to_string(getpid()) + " " + (names ? names : "");
  for (int served = 0; served < 100000; ++served) {
    int client = accept(3, nullptr, nullptr);
    if (client < 0) continue;
    char request[4096];
    ssize_t got = recv(client, request, sizeof request, 0);
    (void)got;
    std::string response = "HTTP/1.0 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                           "\r\nConnection: close\r\n\r\n" + body;
    ssize_t sent = send(client, response.data(), response.size(), MSG_NOSIGNAL);
    (void)sent;
    close(client);
  }
  return 0;
}
