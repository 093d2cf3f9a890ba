#include "subprocess.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <set>
#include <thread>

extern char** environ;

namespace test_support {

using Clock = std::chrono::steady_clock;

std::vector<std::string> ChildEnvironment(const std::vector<std::string>& extra) {
  static const char* const kRunnerOnly[] = {
      "XML_OUTPUT_FILE",        "GTEST_OUTPUT",       "TEST_PREMATURE_EXIT_FILE",
      "TEST_SHARD_STATUS_FILE", "TEST_SHARD_INDEX",   "TEST_TOTAL_SHARDS",
      "GTEST_SHARD_STATUS_FILE", "GTEST_SHARD_INDEX", "GTEST_TOTAL_SHARDS",
      "TEST_INFRASTRUCTURE_FAILURE_FILE"};
  auto name_of = [](const std::string& entry) { return entry.substr(0, entry.find('=')); };
  std::set<std::string> left_out(std::begin(kRunnerOnly), std::end(kRunnerOnly));
  for (const std::string& entry : extra) left_out.insert(name_of(entry));
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    if (left_out.count(name_of(*e)) == 0) env.emplace_back(*e);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

RunResult Run(const std::vector<std::string>& argv, const RunOptions& options) {
  RunResult result;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return result;

  std::vector<std::string> env_strings = ChildEnvironment(options.env);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  const auto start = Clock::now();
  pid_t pid = -1;
  int spawned = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (spawned != 0) {
    close(fds[0]);
    result.output = std::string("posix_spawn: ") + std::strerror(spawned);
    return result;
  }

  const auto deadline = start + options.timeout;
  bool killed = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      kill(pid, SIGKILL);
      result.timed_out = true;
      break;
    }
    struct pollfd event = {fds[0], POLLIN, 0};
    int ready = poll(&event, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char buffer[4096];
    ssize_t got = read(fds[0], buffer, sizeof buffer);
    if (got <= 0) break;  // end-of-file: every writer is gone
    result.output.append(buffer, static_cast<size_t>(got));
    if (!killed && options.kill_when && options.kill_when(result.output)) {
      kill(pid, options.kill_signal);
      killed = true;
    }
  }
  close(fds[0]);
  int status = 0;
  // The output pipe can close before the child exits; wait, bounded.
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline + std::chrono::seconds(5)) {
      kill(pid, SIGKILL);
      result.timed_out = true;
      waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  if (WIFEXITED(status)) {
    result.exited = true;
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  return result;
}

namespace {

// Reads a /proc file with plain read(): the process behind it can vanish
// mid-read (ESRCH), and ifstream turns that into an exception.
std::string ReadProcFile(const std::string& path) {
  std::string content;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return content;
  char buffer[4096];
  for (;;) {
    ssize_t got = read(fd, buffer, sizeof buffer);
    if (got <= 0) break;
    content.append(buffer, static_cast<size_t>(got));
  }
  close(fd);
  return content;
}

}  // namespace

bool ProcessAlive(pid_t pid) {
  if (pid <= 0) return false;
  std::string content = ReadProcFile("/proc/" + std::to_string(pid) + "/stat");
  if (content.empty()) return false;
  size_t paren = content.rfind(')');
  if (paren == std::string::npos || paren + 2 >= content.size()) return false;
  char state = content[paren + 2];
  return state != 'Z' && state != 'X';
}

std::vector<pid_t> ProcessesWithArgument(const std::string& marker) {
  std::vector<pid_t> found;
  DIR* proc = opendir("/proc");
  if (!proc) return found;
  while (struct dirent* entry = readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(entry->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    std::string cmdline = ReadProcFile(std::string("/proc/") + entry->d_name + "/cmdline");
    size_t begin = 0;
    while (begin < cmdline.size()) {
      size_t stop = cmdline.find('\0', begin);
      if (stop == std::string::npos) stop = cmdline.size();
      if (cmdline.compare(begin, stop - begin, marker) == 0) {
        if (ProcessAlive(static_cast<pid_t>(pid))) found.push_back(static_cast<pid_t>(pid));
        break;
      }
      begin = stop + 1;
    }
  }
  closedir(proc);
  return found;
}

std::vector<pid_t> ProcessesInGroup(pid_t group) {
  std::vector<pid_t> found;
  DIR* proc = opendir("/proc");
  if (!proc || group <= 0) return found;
  while (struct dirent* entry = readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(entry->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    std::string stat = ReadProcFile(std::string("/proc/") + entry->d_name + "/stat");
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    char state = 0;
    long ppid = 0, pgrp = 0;
    if (std::sscanf(stat.c_str() + paren + 1, " %c %ld %ld", &state, &ppid, &pgrp) != 3) continue;
    if (pgrp == group && state != 'Z' && state != 'X') found.push_back(static_cast<pid_t>(pid));
  }
  closedir(proc);
  return found;
}

bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::string UniqueMarker() {
  static std::atomic<int> counter{0};
  return "--test-marker=" + std::to_string(getpid()) + "-" + std::to_string(++counter) + "-" +
         std::to_string(Clock::now().time_since_epoch().count());
}

size_t CountOf(const std::string& haystack, const std::string& needle) {
  size_t count = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    ++count;
  }
  return count;
}

std::string ValueAfter(const std::string& text, const std::string& key) {
  size_t pos = text.find(key + "=");
  if (pos == std::string::npos) return "";
  pos += key.size() + 1;
  size_t end = text.find_first_of("\r\n", pos);
  return text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
}

int ThreadsOf(pid_t pid) {
  int count = 0;
  const std::string path = "/proc/" + std::to_string(pid) + "/task";
  if (DIR* dir = opendir(path.c_str())) {
    while (dirent* entry = readdir(dir)) count += entry->d_name[0] != '.';
    closedir(dir);
  }
  return count;
}

uint16_t FreePort() {
  int sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  socklen_t length = sizeof address;
  const bool bound = bind(sock, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                     getsockname(sock, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  close(sock);
  return bound ? ntohs(address.sin_port) : 0;
}

}  // namespace test_support

namespace test_support {

RunResult RunLeavingNothing(const std::string& binary, std::vector<std::string> args,
                            const RunOptions& options) {
  const std::string marker = UniqueMarker();
  std::vector<std::string> argv = {binary, marker};
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult result = Run(argv, options);
  EXPECT_FALSE(result.timed_out) << result.output;
  EXPECT_TRUE(WaitUntil([&] { return ProcessesWithArgument(marker).empty(); },
                        std::chrono::milliseconds(1000)))
      << "processes left behind: " << ProcessesWithArgument(marker).size() << "\n"
      << result.output;
  return result;
}

}  // namespace test_support
