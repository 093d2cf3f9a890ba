// A binary under Scope::kTest (or kTestSuite), run by scope_test as a
// subprocess. Its server counts its warm-ups in a file, keeps a value in
// memory and files in its data directory, and crashes on request.
//
//   per_test_scope <marker> [--scope=suite]
//       [--spawn=reexec|exec-linked|exec-preload|exec-plain]
//       [--warmup-file=PATH] [--thread-before-checkpoint] [--no-checkpoint]
//       [--start-timeout-ms=N]
//       [gtest flags]
//
// --spawn=exec-linked runs the same server as a program of its own that
// links gtest_fork_env's server side (LINKED_SERVER); --spawn=exec-preload
// runs it as an unmodified Python program (KV_SERVER_PY) with
// Options::preload_checkpoint; --spawn=exec-plain runs the Python program
// without it (no template: a start per test).

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest_fork_env/fork_server_env.h>
#include <gtest_fork_env/httplib_server.h>

#include "scenarios/scoped_routes.h"

namespace {

using gtest_fork_env::ForkServerEnv;
using gtest_fork_env::Options;
using gtest_fork_env::Scope;

std::string g_warmup_file;
bool g_thread_before_checkpoint = false;
bool g_no_checkpoint = false;

void CountWarmUp() {
  if (g_warmup_file.empty()) return;
  std::ofstream(g_warmup_file, std::ios::app) << getpid() << "\n";
}

int Serve(gtest_fork_env::ServerContext& context) {
  CountWarmUp();  // before ServeHttplib: once per binary under a template
  if (g_thread_before_checkpoint) {
    std::thread([] { std::this_thread::sleep_for(std::chrono::seconds(30)); }).detach();
  }
  std::string value = "unset";
  httplib::Server server;
  server.set_keep_alive_timeout(1);
  scenarios::InstallScopedRoutes(server, value);
  if (!g_no_checkpoint) return gtest_fork_env::ServeHttplib(server, context);
  // A server that never calls Checkpoint(): started from scratch each time.
  // The same port each time, as the library asks after the first start.
  int port = context.port();
  if (port == 0) {
    port = server.bind_to_any_port(context.host());
  } else if (!server.bind_to_port(context.host(), port)) {
    return 1;
  }
  context.NotifyListening(static_cast<uint16_t>(port));
  gtest_fork_env::StopSignalWatcher watcher([&server] {
    if (!server.is_running()) return false;
    server.stop();
    return true;
  });
  server.listen_after_bind();
  return 0;
}

ForkServerEnv* g_env = nullptr;

std::string Get(const std::string& path) {
  httplib::Client client(g_env->host(), g_env->port());
  client.set_read_timeout(5, 0);
  auto answer = client.Get(path);
  return answer ? answer->body : "no answer: " + httplib::to_string(answer.error());
}

// Each test sees the value a fresh server starts with, then changes it: a
// test after it on the same server would see the change.
void ExpectFreshThenDirty(const char* name) {
  EXPECT_EQ(Get("/value"), "unset");
  EXPECT_EQ(Get("/set?to=" + std::string(name)), name);
  std::printf("pid %s port %u\n", Get("/pid").c_str(), g_env->port());
}

TEST(Isolation, First) { ExpectFreshThenDirty("first"); }
TEST(Isolation, Second) { ExpectFreshThenDirty("second"); }
TEST(Isolation, Third) { ExpectFreshThenDirty("third"); }
TEST(Isolation, Fourth) { ExpectFreshThenDirty("fourth"); }

TEST(Crash, ServerDiesDuringThisTest) {
  std::printf("asking for a crash\n");
  Get("/crash");
}
TEST(Crash, NextTestGetsAFreshServer) { ExpectFreshThenDirty("after the crash"); }

// Under --scope=suite: the tests of one suite share a server.
TEST(SuiteA, SetsTheValue) { EXPECT_EQ(Get("/set?to=a"), "a"); }
TEST(SuiteA, SeesTheValueOfItsSuite) { EXPECT_EQ(Get("/value"), "a"); }
TEST(SuiteB, StartsFresh) { EXPECT_EQ(Get("/value"), "unset"); }

// Kills the template, whose pid is the one line of --warmup-file: the next
// test can get no clone, and its failure names the template.
TEST(LostTemplate, KillsTheTemplate) {
  std::ifstream file(g_warmup_file);
  pid_t template_pid = 0;
  ASSERT_TRUE(file >> template_pid) << "run with --warmup-file";
  ASSERT_EQ(kill(template_pid, SIGKILL), 0);
}
TEST(LostTemplate, NextTestGetsNoClone) { Get("/value"); }

// Holds the binary in a test, so that it can be killed there.
TEST(Hang, UntilKilled) {
  std::printf("hanging in pid %d, server %d\n", getpid(), g_env->pid());
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::seconds(30));
}

}  // namespace

// The server as a function, or as one of the two programs.
ForkServerEnv* MakeEnv(int argc, char** argv, Options options) {
  std::vector<std::string> program;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--spawn=exec-linked") program = {LINKED_SERVER};
    if (arg == "--spawn=exec-plain") program = {"/usr/bin/python3", KV_SERVER_PY};
    if (arg == "--spawn=exec-preload") {
      program = {"/usr/bin/python3", KV_SERVER_PY};
      options.preload_checkpoint = true;
    }
  }
  if (program.empty()) return new ForkServerEnv(Serve, options);
  // The run's marker, so that the test that ran this binary finds the
  // programs it left, as it finds forked servers.
  program.insert(program.end(), {"--port", "{port}", std::string("--marker=") + argv[1]});
  if (!g_warmup_file.empty()) program.insert(program.end(), {"--warmup-file", g_warmup_file});
  if (g_thread_before_checkpoint) program.push_back("--thread-before-checkpoint");
  return ForkServerEnv::Exec(program, options);
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  Options options;
  options.name = "scoped";
  options.scope = Scope::kTest;
  options.start_timeout = std::chrono::milliseconds(5000);
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--scope=suite") options.scope = Scope::kTestSuite;
    if (arg == "--spawn=reexec") options.spawn_mode = gtest_fork_env::SpawnMode::kReexec;
    if (arg.rfind("--warmup-file=", 0) == 0) g_warmup_file = arg.substr(14);
    if (arg == "--thread-before-checkpoint") g_thread_before_checkpoint = true;
    if (arg == "--no-checkpoint") g_no_checkpoint = true;
    if (arg.rfind("--start-timeout-ms=", 0) == 0) {
      options.start_timeout = std::chrono::milliseconds(std::stoi(arg.substr(19)));
    }
  }
  g_env = static_cast<ForkServerEnv*>(
      ::testing::AddGlobalTestEnvironment(MakeEnv(argc, argv, options)));
  return RUN_ALL_TESTS();
}
