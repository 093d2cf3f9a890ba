// Exec mode: any program as the server, here Python's http.server. Its
// "Serving HTTP on" line is the readiness signal (Probe::LogLine), which
// works only if the program flushes its output: python3 -u does, anywhere.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <gtest_fork_env/fork_server_env.h>

#include <chrono>

namespace {

gtest_fork_env::Options FilesOptions() {
  gtest_fork_env::Options options;
  options.name = "py-files";
  options.probe = gtest_fork_env::Probe::LogLine("^Serving HTTP on");
  options.env = {"LC_ALL=C.UTF-8"};  // added to the environment the program inherits
  return options;
}

auto* const files = static_cast<gtest_fork_env::ForkServerEnv*>(
    ::testing::AddGlobalTestEnvironment(gtest_fork_env::ForkServerEnv::Exec(
        {"python3", "-u", "-m", "http.server", "{port}", "--bind", "{host}"}, FilesOptions())));

TEST(ExecPython, ListsTheWorkingDirectory) {
  httplib::Client client(files->host(), files->port());
  auto answer = client.Get("/");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200);
}

TEST(ExecPython, KillReturnsAtOnceWaitForExitWaits) {
  ASSERT_TRUE(files->Kill(SIGKILL));  // sends the signal and returns
  EXPECT_TRUE(files->WaitForExit(std::chrono::seconds(5)));  // the process is gone now
  EXPECT_FALSE(files->IsRunning());
}  // the library starts it again for the next test

}  // namespace
