// PID 1 of a PID namespace that never reaps what it did not start, as a
// script runner without an init is in a container:
//   unshare --pid --fork --mount-proc never_reaping_init RUNS PROGRAM ARGS...
// runs PROGRAM RUNS times, one after the other, waiting for each (only for
// it), then gives any process they left 500 ms to end and prints
//   PASSED=<runs that exited 0>
//   ZOMBIES=<zombies in the namespace>  (orphans whose exit nobody reaped)
//   LIVE=<other live processes in the namespace>
// and the /proc/<pid>/stat line of each of those.

#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

// "pid (comm) state ..." lines of every process but this one.
std::vector<std::string> OtherProcesses() {
  std::vector<std::string> stats;
  DIR* proc = opendir("/proc");
  if (!proc) return stats;
  while (dirent* entry = readdir(proc)) {
    const long pid = std::strtol(entry->d_name, nullptr, 10);
    if (pid <= 0 || pid == getpid()) continue;
    std::ifstream file(std::string("/proc/") + entry->d_name + "/stat");
    std::string line;
    if (std::getline(file, line)) stats.push_back(line);
  }
  closedir(proc);
  return stats;
}

char StateOf(const std::string& stat) {
  const size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() ? stat[paren + 2] : '?';
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: never_reaping_init RUNS PROGRAM [ARGS...]\n");
    return 64;
  }
  const int runs = std::atoi(argv[1]);
  int passed = 0;
  for (int run = 0; run < runs; ++run) {
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
      execv(argv[2], argv + 2);
      _exit(127);
    }
    int status = 0;
    if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
        WEXITSTATUS(status) == 0) {
      ++passed;
    }
  }
  usleep(500 * 1000);
  std::vector<std::string> zombies, live;
  for (const std::string& stat : OtherProcesses()) {
    (StateOf(stat) == 'Z' ? zombies : live).push_back(stat);
  }
  std::printf("PASSED=%d\nZOMBIES=%zu\nLIVE=%zu\n", passed, zombies.size(), live.size());
  for (const std::string& stat : zombies) std::printf("zombie: %s\n", stat.c_str());
  for (const std::string& stat : live) std::printf("live: %s\n", stat.c_str());
  return 0;
}
