// Starts and stops the one shared sample server of the whole-run comparison,
// the way a suite without gtest_fork_env shares a server: a ctest fixture
// test starts it once, every test reads its port from a file, a cleanup test
// stops it.
//
//   wholerun_shared_ctl start STATE_FILE SAMPLE_SERVER   # writes "port pid"
//   wholerun_shared_ctl stop STATE_FILE
//
// start: picks a free port, starts the server in a session of its own with
// its output in STATE_FILE.log, and waits (every 1 ms, 10 s at most) until
// GET /healthz answers 200. stop: SIGTERM, waits for the exit (pidfd, 10 s
// at most), then SIGKILL.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

extern char** environ;

namespace {

int PickFreePort() {
  int sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(sock, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return -1;
  socklen_t length = sizeof address;
  getsockname(sock, reinterpret_cast<sockaddr*>(&address), &length);
  close(sock);
  return ntohs(address.sin_port);
}

bool Healthy(int port) {
  int sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct timeval limit = {1, 0};
  setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = false;
  if (connect(sock, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    const char request[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (send(sock, request, sizeof request - 1, MSG_NOSIGNAL) > 0) {
      char buffer[64] = {};
      ok = recv(sock, buffer, sizeof buffer - 1, 0) > 12 &&
           std::strncmp(buffer, "HTTP/1.1 200", 12) == 0;
    }
  }
  close(sock);
  return ok;
}

int Start(const std::string& state, const std::string& program) {
  const int port = PickFreePort();
  if (port <= 0) return 1;
  const std::string log = state + ".log";
  const std::string port_text = std::to_string(port);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID);
  const char* argv[] = {program.c_str(), "--host", "127.0.0.1", "--port", port_text.c_str(),
                        nullptr};
  pid_t pid = -1;
  int error = posix_spawn(&pid, program.c_str(), &actions, &attributes,
                          const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (error != 0) {
    std::fprintf(stderr, "cannot start %s: %s\n", program.c_str(), std::strerror(error));
    return 1;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!Healthy(port)) {
    if (std::chrono::steady_clock::now() > deadline || kill(pid, 0) != 0) {
      std::fprintf(stderr, "shared server did not get ready; see %s\n", log.c_str());
      kill(pid, SIGKILL);
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::ofstream(state) << port << ' ' << pid << '\n';
  std::printf("shared server pid %d on 127.0.0.1:%d\n", static_cast<int>(pid), port);
  return 0;
}

int Stop(const std::string& state) {
  int port = 0, pid = 0;
  std::ifstream(state) >> port >> pid;
  if (pid <= 0) {
    std::fprintf(stderr, "no shared server in %s\n", state.c_str());
    return 1;
  }
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  kill(pid, SIGTERM);
  bool gone = false;
  if (pidfd >= 0) {
    struct pollfd event = {pidfd, POLLIN, 0};
    gone = poll(&event, 1, 10000) == 1;
    close(pidfd);
  }
  if (!gone) kill(pid, SIGKILL);
  std::remove(state.c_str());
  std::printf("shared server pid %d stopped\n", pid);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "start") == 0) return Start(argv[2], argv[3]);
  if (argc == 3 && std::strcmp(argv[1], "stop") == 0) return Stop(argv[2]);
  std::fprintf(stderr, "usage: wholerun_shared_ctl start STATE SAMPLE_SERVER | stop STATE\n");
  return 64;
}
