// The sample server driven by a client nobody here wrote: the system's curl,
// run as a subprocess against the ForkServerEnv's URL. Also the standalone
// executable, started the way a user would start it.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "sample_server_test_support.h"

extern char** environ;

namespace {

using sample_server_test::IsJsonError;
using sample_server_test::ReadFile;
using sample_server_test::TestDirectory;
using Json = nlohmann::json;
using std::chrono::milliseconds;

const bool directory_cleanup = (sample_server_test::CleanUpTestDirectory(), true);
gtest_fork_env::ForkServerEnv* const server =
    sample_server_test::AddSampleServer("kv", [] { return sample_server::Config(); });
const size_t kMaxValue = sample_server::Config().max_value_bytes;

// A child process running `argv`, its stdout on a pipe to us, its stderr in
// `stderr_path` (or ours). Killed and reaped when this is destroyed; killed
// by the kernel if the test process dies first.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env = {},
        const std::string& stderr_path = "") {
    std::vector<char*> args;
    for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    std::vector<std::string> env_strings(extra_env);
    for (char** entry = environ; *entry; ++entry) env_strings.emplace_back(*entry);
    std::vector<char*> env;  // the first entry of a name wins in getenv
    for (std::string& entry : env_strings) env.push_back(entry.data());
    env.push_back(nullptr);
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) return;
    const pid_t parent = getpid();
    std::fflush(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      dup2(pipe_fds[1], 1);
      if (!stderr_path.empty()) {
        int err = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (err >= 0) dup2(err, 2);
      }
      execvpe(args[0], args.data(), env.data());
      _exit(127);
    }
    close(pipe_fds[1]);
    out_fd_ = pipe_fds[0];
    if (pid_ < 0) return;
    pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  }

  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) close(out_fd_);
    if (pidfd_ >= 0) close(pidfd_);
  }

  bool started() const { return pid_ > 0 && pidfd_ >= 0; }
  pid_t pid() const { return pid_; }

  // Reads stdout until `done(output)` holds or the pipe ends or `timeout`
  // passes; returns what was read.
  template <typename Done>
  std::string ReadUntil(Done done, milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done(out_)) {
      auto left =
          std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
      struct pollfd event = {out_fd_, POLLIN, 0};
      if (left.count() <= 0 || poll(&event, 1, static_cast<int>(left.count())) <= 0) break;
      char buffer[4096];
      ssize_t got = read(out_fd_, buffer, sizeof buffer);
      if (got <= 0) break;
      out_.append(buffer, static_cast<size_t>(got));
    }
    return out_;
  }

  // Waits for the exit; the exit code, or nullopt after `timeout` or for a
  // death by signal.
  std::optional<int> Wait(milliseconds timeout) {
    struct pollfd event = {pidfd_, POLLIN, 0};
    if (poll(&event, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    int status = 0;
    if (waitpid(pid_, &status, 0) != pid_) return std::nullopt;
    pid_ = -1;
    if (!WIFEXITED(status)) return std::nullopt;
    return WEXITSTATUS(status);
  }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int pidfd_ = -1;
  std::string out_;
};

struct CurlResult {
  std::optional<int> exit_code;
  std::string out;  // what -w wrote: the status code
};

// Runs curl with a deadline, ignoring ~/.curlrc and any proxy settings.
CurlResult Curl(std::vector<std::string> args) {
  std::vector<std::string> argv = {"curl",      "-q", "--silent",   "--show-error",
                                   "--noproxy", "*",  "--max-time", "20"};
  argv.insert(argv.end(), args.begin(), args.end());
  Child curl(argv);
  EXPECT_TRUE(curl.started());
  CurlResult result;
  result.out = curl.ReadUntil([](const std::string&) { return false; }, milliseconds(30000));
  result.exit_code = curl.Wait(milliseconds(30000));
  return result;
}

// The status code curl saw, with the body in `body_file`.
std::string CurlStatus(std::vector<std::string> args, const std::string& body_file = "/dev/null") {
  args.insert(args.end(), {"--output", body_file, "--write-out", "%{http_code}"});
  CurlResult result = Curl(args);
  EXPECT_EQ(result.exit_code, 0) << "curl failed";
  return result.out;
}

std::string Url(const std::string& path) { return server->url() + path; }

std::string WriteFile(const std::string& name, const std::string& content) {
  const std::string path = TestDirectory() + "/" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

TEST(SampleServerCurl, PutGetDeleteRoundTrip) {
  std::string value;
  for (int i = 0; i < 3000; ++i) value += static_cast<char>(i * 7);
  const std::string in = WriteFile("in.bin", value);
  const std::string out = TestDirectory() + "/out.bin";
  const std::string url = Url("/v1/kv/curl.file");

  EXPECT_EQ(CurlStatus({"--upload-file", in, url}), "201");
  EXPECT_EQ(CurlStatus({"--upload-file", in, url}), "200");
  EXPECT_EQ(CurlStatus({url}, out), "200");
  EXPECT_TRUE(ReadFile(out) == value) << "curl got other bytes back";

  EXPECT_EQ(CurlStatus({"--request", "DELETE", url}), "204");
  EXPECT_EQ(CurlStatus({url}, out), "404");
  EXPECT_TRUE(IsJsonError(ReadFile(out), "not_found"));
  EXPECT_EQ(CurlStatus({"--request", "DELETE", url}), "404");
}

TEST(SampleServerCurl, HealthzAndListAnswerWhatTheySay) {
  const std::string out = TestDirectory() + "/out.txt";
  EXPECT_EQ(CurlStatus({Url("/healthz")}, out), "200");
  EXPECT_EQ(ReadFile(out), "ok");

  for (const char* key : {"c.2", "c.1", "c.3"}) {
    EXPECT_EQ(CurlStatus({"--request", "PUT", "--data-binary", key, Url("/v1/kv/") + key}), "201");
  }
  EXPECT_EQ(CurlStatus({Url("/v1/kv?prefix=c.&limit=2")}, out), "200");
  EXPECT_EQ(Json::parse(ReadFile(out)), Json({"c.1", "c.2"}));
  EXPECT_EQ(CurlStatus({Url("/v1/kv?limit=many")}, out), "400");
  EXPECT_TRUE(IsJsonError(ReadFile(out), "bad_query"));
}

// curl sends --data-binary as application/x-www-form-urlencoded, which
// httplib caps at 8 KiB unless the body goes through a content reader.
TEST(SampleServerCurl, FormEncodedBodyOver8KiBIsStoredVerbatim) {
  std::string value;
  while (value.size() < 100 * 1024) value += "a=1&b=%20+c&";
  const std::string in = WriteFile("form.txt", value);
  const std::string out = TestDirectory() + "/form.out";
  EXPECT_EQ(CurlStatus({"--request", "PUT", "--data-binary", "@" + in, Url("/v1/kv/form")}), "201");
  EXPECT_EQ(CurlStatus({Url("/v1/kv/form")}, out), "200");
  EXPECT_TRUE(ReadFile(out) == value);
}

// Over 1 MiB curl asks "Expect: 100-continue" first; the server refuses a
// value over the limit before curl sends it.
TEST(SampleServerCurl, LargestValueIsStoredAndOneByteMoreIs413) {
  const std::string largest = sample_server_test::MakeValue("curl.big", kMaxValue);
  const std::string at_limit = WriteFile("limit.bin", largest);
  const std::string over_limit = WriteFile("over.bin", largest + "!");
  const std::string out = TestDirectory() + "/big.out";
  const std::string url = Url("/v1/kv/curl.big");

  EXPECT_EQ(CurlStatus({"--upload-file", at_limit, url}), "201");
  EXPECT_EQ(CurlStatus({"--upload-file", over_limit, url}, out), "413");
  EXPECT_TRUE(IsJsonError(ReadFile(out), "value_too_large"));
  EXPECT_EQ(CurlStatus({"--request", "PUT", "--data-binary", "@" + over_limit, url}, out), "413");
  EXPECT_TRUE(IsJsonError(ReadFile(out), "value_too_large"));
  EXPECT_EQ(CurlStatus({url}, out), "200");
  EXPECT_TRUE(ReadFile(out) == largest) << "a refused PUT changed the value";
}

TEST(SampleServerCurl, ErrorsAreJsonWithTheRightStatus) {
  const std::string out = TestDirectory() + "/error.out";
  const std::string headers = TestDirectory() + "/error.headers";
  EXPECT_EQ(
      CurlStatus({"--request", "POST", "--data", "x", "--dump-header", headers, Url("/v1/kv/k")},
                 out),
      "405");
  EXPECT_TRUE(IsJsonError(ReadFile(out), "method_not_allowed"));
  EXPECT_NE(ReadFile(headers).find("Allow: GET, HEAD, PUT, DELETE\r\n"), std::string::npos)
      << ReadFile(headers);
  EXPECT_EQ(CurlStatus({"--request", "PUT", "--data", "x", Url("/v1/kv/a%2Fb")}, out), "400");
  EXPECT_TRUE(IsJsonError(ReadFile(out), "bad_key"));
  EXPECT_EQ(CurlStatus({Url("/no/such/path")}, out), "404");
  EXPECT_TRUE(IsJsonError(ReadFile(out), "not_found"));
  EXPECT_EQ(
      CurlStatus(
          {"--http1.0", "--request", "PUT", "--header", "Content-Length: x", Url("/v1/kv/k")}, out),
      "400");
  EXPECT_TRUE(IsJsonError(ReadFile(out), "bad_request"));
}

TEST(SampleServerCurl, HelpDescribesTheCommandLine) {
  Child help({SAMPLE_SERVER_EXECUTABLE, "--help"});
  ASSERT_TRUE(help.started());
  const std::string out =
      help.ReadUntil([](const std::string&) { return false; }, milliseconds(10000));
  EXPECT_EQ(help.Wait(milliseconds(10000)), 0);
  for (const char* option : {"--host", "--port", "--data-file", "--max-value-bytes", "--fsync"}) {
    EXPECT_NE(out.find(option), std::string::npos) << option << " missing from:\n" << out;
  }
  Child wrong({SAMPLE_SERVER_EXECUTABLE, "--port", "70000"});
  EXPECT_NE(wrong.Wait(milliseconds(10000)), 0) << "port 70000 was accepted";
}

// The executable as a user runs it: it prints where it listens, serves curl,
// stops cleanly on SIGTERM and finds its data again on the next start.
TEST(SampleServerCurl, StandaloneExecutableServesAndKeepsItsData) {
  const std::string data = TestDirectory() + "/standalone.kvlog";
  const std::string log = TestDirectory() + "/standalone.log";
  const std::string out = TestDirectory() + "/standalone.out";
  const std::regex listening(R"(listening on (http://127\.0\.0\.1:[0-9]+)\n)");

  for (int run = 0; run < 2; ++run) {
    Child standalone(
        {SAMPLE_SERVER_EXECUTABLE, "--host", "127.0.0.1", "--port", "0", "--data-file", data}, {},
        log);
    ASSERT_TRUE(standalone.started());
    std::smatch match;
    const std::string printed = standalone.ReadUntil(
        [&](const std::string& text) { return std::regex_search(text, match, listening); },
        milliseconds(10000));
    ASSERT_TRUE(std::regex_search(printed, match, listening))
        << "printed: " << printed << "\nlog: " << ReadFile(log);
    const std::string url = match[1];
    EXPECT_EQ(CurlStatus({url + "/healthz"}), "200");
    if (run == 0) {
      EXPECT_EQ(CurlStatus({"--request", "PUT", "--data-binary", "kept", url + "/v1/kv/kept"}),
                "201");
    } else {
      EXPECT_EQ(CurlStatus({url + "/v1/kv/kept"}, out), "200");
      EXPECT_EQ(ReadFile(out), "kept");
    }
    ASSERT_EQ(kill(standalone.pid(), SIGTERM), 0);
    EXPECT_EQ(standalone.Wait(milliseconds(10000)), 0) << ReadFile(log);
    EXPECT_NE(ReadFile(log).find("GET /healthz 200 2 "), std::string::npos) << ReadFile(log);
  }
}

TEST(SampleServerCurl, SpdlogLevelSilencesTheAccessLog) {
  const std::string log = TestDirectory() + "/quiet.log";
  Child quiet({SAMPLE_SERVER_EXECUTABLE, "--port", "0"}, {"SPDLOG_LEVEL=warn"}, log);
  ASSERT_TRUE(quiet.started());
  std::smatch match;
  const std::regex listening(R"(listening on (http://127\.0\.0\.1:[0-9]+)\n)");
  const std::string printed = quiet.ReadUntil(
      [&](const std::string& text) { return std::regex_search(text, match, listening); },
      milliseconds(10000));
  ASSERT_TRUE(std::regex_search(printed, match, listening)) << printed;
  EXPECT_EQ(CurlStatus({std::string(match[1]) + "/healthz"}), "200");
  ASSERT_EQ(kill(quiet.pid(), SIGTERM), 0);
  EXPECT_EQ(quiet.Wait(milliseconds(10000)), 0);
  EXPECT_EQ(ReadFile(log).find("/healthz"), std::string::npos) << ReadFile(log);
}

}  // namespace
