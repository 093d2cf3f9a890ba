#pragma once

// Helpers for tests that check failure paths from outside: run a test binary
// as a subprocess, then look at its exit, its output and the process table.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace test_support {

struct RunResult {
  bool exited = false;
  int exit_code = -1;
  int signal = 0;          // when killed by a signal
  bool timed_out = false;  // killed with SIGKILL by Run after `timeout`
  std::string output;      // stdout and stderr, interleaved
  std::chrono::milliseconds elapsed{0};
};

struct RunOptions {
  // "NAME=value", added to this process's environment (replacing a variable
  // of the same name), less the runner's variables (ChildEnvironment).
  std::vector<std::string> env;
  std::chrono::milliseconds timeout{60000};
  // Called with the output so far whenever more arrives; returning true
  // kills the child (only the child, with `kill_signal`), as a crash would.
  std::function<bool(const std::string& output)> kill_when;
  int kill_signal = 9;
};

// The environment Run gives a child: this process's, without the variables
// a test runner sets for this test binary alone (its shard, its XML output,
// its status and premature-exit files, its infrastructure-failure file; a
// child that is a GoogleTest binary would otherwise run one shard of its
// tests or write this test's files), and with `extra` replacing any variable
// of the same name.
std::vector<std::string> ChildEnvironment(const std::vector<std::string>& extra);

// Runs `argv` (argv[0] is a path) and collects its output. Every wait is
// bounded by options.timeout.
RunResult Run(const std::vector<std::string>& argv, const RunOptions& options = {});

// Runs `binary` with a unique marker as its first argument, then `args`,
// and checks (as GoogleTest failures) that it did not time out and that,
// within one second of its end, no process carrying the marker is left.
RunResult RunLeavingNothing(const std::string& binary, std::vector<std::string> args,
                            const RunOptions& options = {});

// Whether `pid` is a live process (a zombie counts as dead).
bool ProcessAlive(pid_t pid);

// Live processes whose command line contains `marker` as a whole argument.
std::vector<pid_t> ProcessesWithArgument(const std::string& marker);

// Live processes in process group `group`.
std::vector<pid_t> ProcessesInGroup(pid_t group);

// Polls `condition` every 5 ms until it holds or `timeout` passes.
bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

// An argument no other process has: "--test-marker=<pid>-<counter>-<time>".
// gtest leaves unknown arguments alone, and a fork-mode server inherits the
// command line, so the marker finds the server processes of one run.
std::string UniqueMarker();

// Occurrences of `needle` in `haystack`.
size_t CountOf(const std::string& haystack, const std::string& needle);

// The value after "<key>=" on the first line that has it, or "".
std::string ValueAfter(const std::string& text, const std::string& key);

// Threads of process `pid` now (entries of /proc/<pid>/task); 0 if unknown.
int ThreadsOf(pid_t pid);

// A loopback port nothing listens on now (bound to 0, then closed): for a
// test that needs a fixed port. Another process may take it before use.
uint16_t FreePort();

}  // namespace test_support
