#include "test_runner.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "unique_fd.h"

extern char** environ;

namespace gtest_fork_env::detail {
namespace {

using Clock = std::chrono::steady_clock;

// When this process started, near enough: static initialization runs before
// main, and $TEST_TIMEOUT counts from the runner's start of the test.
const Clock::time_point kProcessStart = Clock::now();

// The share of $TEST_TIMEOUT a readiness wait may use; the rest is left for
// the failure to be reported and the servers to be stopped.
constexpr double kTestTimeoutShare = 0.9;

const char* const kRunnerVariables[] = {
    "XML_OUTPUT_FILE",
    "TEST_PREMATURE_EXIT_FILE",
    "TEST_SHARD_STATUS_FILE",
    "TEST_SHARD_INDEX",
    "TEST_TOTAL_SHARDS",
    "GTEST_SHARD_INDEX",
    "GTEST_TOTAL_SHARDS",
    "GTEST_SHARD_STATUS_FILE",
    "GTEST_OUTPUT",
    "TEST_WARNINGS_OUTPUT_FILE",
    "TEST_INFRASTRUCTURE_FAILURE_FILE",
};
// Every variable that starts with this: TEST_UNDECLARED_OUTPUTS_DIR,
// _MANIFEST, _ANNOTATIONS, _ZIP...
constexpr const char kUndeclaredOutputsPrefix[] = "TEST_UNDECLARED_OUTPUTS_";

const char* NonEmpty(const char* name) {
  const char* value = std::getenv(name);
  return value && *value ? value : nullptr;
}

// TEST_TIMEOUT in seconds, or 0 when unset or not a positive number.
long TestTimeoutSeconds() {
  const char* text = NonEmpty("TEST_TIMEOUT");
  if (!text) return 0;
  char* end = nullptr;
  long seconds = std::strtol(text, &end, 10);
  return (end && *end == '\0' && seconds > 0) ? seconds : 0;
}

}  // namespace

std::string TempDir() {
  for (const char* name : {"TEST_TMPDIR", "TMPDIR"}) {
    if (const char* dir = NonEmpty(name)) return dir;
  }
  return "/tmp";
}

bool IsRunnerVariable(const char* entry) noexcept {
  if (std::strncmp(entry, kUndeclaredOutputsPrefix, sizeof kUndeclaredOutputsPrefix - 1) == 0) {
    return true;
  }
  for (const char* name : kRunnerVariables) {
    const size_t length = std::strlen(name);
    if (std::strncmp(entry, name, length) == 0 && entry[length] == '=') return true;
  }
  return false;
}

void ScrubRunnerVariables() noexcept {
  if (!environ) return;
  char** kept = environ;
  for (char** entry = environ; *entry; ++entry) {
    if (!IsRunnerVariable(*entry)) *kept++ = *entry;
  }
  *kept = nullptr;
}

void ReportInfrastructureFailure(const std::string& server_name, const std::string& failure) {
  const char* path = NonEmpty("TEST_INFRASTRUCTURE_FAILURE_FILE");
  if (!path) return;
  UniqueFd fd(open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!fd) return;
  const std::string line = "gtest_fork_env: server '" + server_name +
                           "' could not be started: " + failure.substr(0, failure.find('\n')) +
                           "\n";
  WriteAll(fd.get(), line.data(), line.size());
}

std::string CopyToUndeclaredOutputs(const std::string& log_path) {
  const char* dir = NonEmpty("TEST_UNDECLARED_OUTPUTS_DIR");
  if (!dir || log_path.empty()) return "";
  UniqueFd from(open(log_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!from) return "";
  const std::string copy = std::string(dir) + "/" + log_path.substr(log_path.rfind('/') + 1);
  UniqueFd to(open(copy.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!to) return "";
  char buffer[64 * 1024];
  for (;;) {
    ssize_t got = RetryOnEintr([&] { return read(from.get(), buffer, sizeof buffer); });
    if (got == 0) return copy;
    if (got < 0 || WriteAll(to.get(), buffer, static_cast<size_t>(got))) return "";
  }
}

Clock::time_point TestTimeoutDeadline() {
  const long seconds = TestTimeoutSeconds();
  if (seconds == 0) return Clock::time_point::max();
  const std::chrono::duration<double> share(static_cast<double>(seconds) * kTestTimeoutShare);
  return kProcessStart + std::chrono::duration_cast<Clock::duration>(share);
}

Clock::time_point ReadinessDeadline(Clock::time_point start_deadline) {
  return std::min(start_deadline, TestTimeoutDeadline());
}

std::string TestTimeoutNote(Clock::time_point start_deadline) {
  if (TestTimeoutDeadline() >= start_deadline) return "";
  return " The wait was cut short before start_timeout ran out: the test runner gives this "
         "test " +
         std::to_string(TestTimeoutSeconds()) +
         " s ($TEST_TIMEOUT), and the library stops waiting at 90% of it so that this message "
         "is still printed. Give the test a longer timeout (Bazel: the `timeout` "
         "or `size` attribute, or --test_timeout), or start the server faster.";
}

}  // namespace gtest_fork_env::detail
