// A binary whose server is an unmodified program under
// Options::preload_checkpoint and Scope::kTest, run by preload_test as a
// subprocess. Each test prints what it saw; the State tests write state in
// one test and look for it in the next.
//
//   preload <marker> --program=KIND [--start-timeout-ms=N] [gtest flags]
//
// KIND: http-server (python3 -m http.server), stdlib (kv_server.py, an
// http.server.HTTPServer), flask, flask-threaded, redis, static (a
// statically linked C server), setuid=PATH (a set-user-ID program),
// never-waits (listens, never waits for a connection), function (a server
// function: the option is refused), binary-scope.

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <gtest_fork_env/fork_server_env.h>
#include <gtest_fork_env/httplib_server.h>

namespace {

using gtest_fork_env::ForkServerEnv;
using gtest_fork_env::Options;

std::string g_kind;
std::string g_marker;  // argv[1]: given to the programs that take it
ForkServerEnv* g_env = nullptr;

httplib::Client Client() {
  httplib::Client client(g_env->host(), g_env->port());
  client.set_read_timeout(5, 0);
  client.set_connection_timeout(5, 0);
  return client;
}

std::string Get(const std::string& path) {
  auto answer = Client().Get(path);
  if (!answer) return "no answer: " + httplib::to_string(answer.error());
  return std::to_string(answer->status) + " " + answer->body;
}

// Writes the state each kind of server keeps: a file in the clone's working
// directory (http.server serves it), a value in memory (the others).
void WriteState() {
  if (g_kind == "http-server") {
    std::ofstream(g_env->data_dir() + "/note.txt") << "written by the first test";
    EXPECT_EQ(Get("/note.txt"), "200 written by the first test");
  } else if (g_kind == "stdlib") {
    EXPECT_EQ(Get("/set?to=first"), "200 first");
  } else {
    auto answer = Client().Put("/kv/greeting", "hello", "text/plain");
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->status, 200);
    EXPECT_EQ(Get("/kv/greeting"), "200 hello");
  }
}

void ExpectNoState() {
  if (g_kind == "http-server") {
    EXPECT_EQ(Get("/note.txt").substr(0, 3), "404");
  } else if (g_kind == "stdlib") {
    EXPECT_EQ(Get("/value"), "200 unset");
  } else {
    EXPECT_EQ(Get("/kv/greeting").substr(0, 3), "404");
  }
}

void PrintServer() { std::printf("server pid %d\n", static_cast<int>(g_env->pid())); }

TEST(State, FirstTestWritesIt) {
  PrintServer();
  WriteState();
}
TEST(State, SecondTestDoesNotSeeIt) {
  PrintServer();
  ExpectNoState();
  WriteState();
}
// How often the program started: the line each kind prints once when it
// starts listening, counted in its log. A clone does not print it again.
size_t Startups() {
  const std::string banner = g_kind == "http-server" ? "Serving HTTP on"
                             : g_kind == "stdlib"    ? "listening on port"
                                                     : "Running on http://";
  std::ifstream log(g_env->log_path());
  size_t count = 0;
  for (std::string line; std::getline(log, line);) count += line.find(banner) != std::string::npos;
  return count;
}

TEST(State, ThirdTestDoesNotSeeIt) {
  PrintServer();
  ExpectNoState();
  std::printf("startups %zu\n", Startups());
}

// What the clone passes on to a program it runs (kv_server.py's /child-env).
TEST(Clone, WhatItRunsInheritsNeitherThePreloadNorTheSocket) {
  EXPECT_EQ(Get("/child-env?name=LD_PRELOAD"), "200 <unset>");
  EXPECT_EQ(Get("/child-env?name=GTEST_FORK_ENV_TEMPLATE_FD"), "200 <unset>");
  EXPECT_EQ(Get("/child-env?name=GTEST_FORK_ENV_DATA_DIR"), "200 " + g_env->data_dir());
  EXPECT_EQ(Get("/threads"), "200 1");
}

TEST(Clone, RestartGivesAFreshCloneInTheSameDataDirectory) {
  EXPECT_EQ(Get("/set?to=before"), "200 before");
  const pid_t before = g_env->pid();
  const std::string dir = g_env->data_dir();
  g_env->Restart();
  EXPECT_NE(g_env->pid(), before);
  EXPECT_EQ(g_env->data_dir(), dir);
  EXPECT_EQ(Get("/value"), "200 unset");
}

TEST(Start, AnswersOnce) { EXPECT_EQ(Get("/").substr(0, 3), "200"); }

std::vector<std::string> ProgramOf(const std::string& kind, Options& options) {
  const std::string python = "/usr/bin/python3";
  if (kind == "http-server") {
    // In its data directory, serving "." as each request comes: each clone
    // serves its own copy.
    options.working_dir = "{data_dir}";
    options.env = {"PYTHONUNBUFFERED=1"};  // its banner reaches the log at once
    return {python, "-m", "http.server", "{port}", "--bind", "127.0.0.1", "--directory", "."};
  }
  if (kind == "stdlib") return {python, KV_SERVER_PY, "--port", "{port}", "--marker=" + g_marker};
  if (kind == "flask") return {python, FLASK_KV_PY, "{port}", "unthreaded", g_marker};
  if (kind == "flask-threaded") return {python, FLASK_KV_PY, "{port}", "threaded", g_marker};
  if (kind == "redis") {
    return {"redis-server", "--port", "{port}", "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--daemonize", "no"};
  }
  if (kind == "static") return {TINY_SERVER_STATIC, "{port}"};
  if (kind.rfind("setuid=", 0) == 0) return {kind.substr(7), "{port}"};
  if (kind == "never-waits") {
    return {python, "-c",
            "import socket, sys, time\n"
            "s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen()\n"
            "print('listening, never accepting', flush=True); time.sleep(60)\n",
            "{port}"};
  }
  if (kind == "binary-scope") {
    options.scope = gtest_fork_env::Scope::kBinary;
    return {python, KV_SERVER_PY, "--port", "{port}"};
  }
  return {};
}

int ServeNothing(gtest_fork_env::ServerContext&) { return 1; }

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  Options options;
  options.name = "preloaded";
  options.scope = gtest_fork_env::Scope::kTest;
  options.preload_checkpoint = true;
  options.start_timeout = std::chrono::milliseconds(10000);
  if (argc > 1) g_marker = argv[1];
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--program=", 0) == 0) g_kind = arg.substr(10);
    if (arg.rfind("--start-timeout-ms=", 0) == 0) {
      options.start_timeout = std::chrono::milliseconds(std::stoi(arg.substr(19)));
    }
  }
  std::vector<std::string> program = ProgramOf(g_kind, options);
  g_env = program.empty() ? new ForkServerEnv(ServeNothing, options)
                          : ForkServerEnv::Exec(program, options);
  ::testing::AddGlobalTestEnvironment(g_env);
  return RUN_ALL_TESTS();
}
