// A test binary whose program server fails the way EXEC_CASE says: missing,
// exits, never_ready, ignores_sigterm, daemonizes, daemonizes_setsid (redis
// with --daemonize yes; PIDFILE names its pid file), unknown_placeholder,
// never_logs. Run by scenarios_test.

#include <gtest/gtest.h>
#include <gtest_fork_env/fork_server_env.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace {

std::string Case() {
  const char* value = std::getenv("EXEC_CASE");
  return value ? value : "missing";
}

gtest_fork_env::ForkServerEnv* env = nullptr;

}  // namespace

TEST(ExecFailure, Test) {
  std::printf("SERVER_PID=%d\n", env->pid());
  if (Case() == "daemonizes_setsid") {
    // The first redis process exits soon after it forked the daemon: give
    // that exit time to happen during this test, bounded.
    for (int i = 0; i < 500 && env->IsRunning(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const std::string which = Case();
  gtest_fork_env::Options options;
  options.name = "program-" + which;
  options.start_timeout = std::chrono::milliseconds(5000);
  std::vector<std::string> program;
  if (which == "missing") {
    program = {"/nonexistent/bin/server", "--port", "{port}"};
  } else if (which == "exits") {
    program = {"/bin/sh", "-c", "echo 'cannot read config /etc/nowhere.conf' >&2; exit 2"};
  } else if (which == "never_ready") {
    options.start_timeout = std::chrono::milliseconds(300);
    program = {"/bin/sh", "-c", "echo 'listening soon on {port}'; exec sleep 30"};
  } else if (which == "ignores_sigterm") {
    options.stop_timeout = std::chrono::milliseconds(300);
    program = {"/bin/sh", "-c",
               "trap '' TERM; exec python3 -m http.server {port} --bind {host} --directory /"};
  } else if (which == "daemonizes") {
    program = {"/bin/sh", "-c", "sleep 30 & echo forked into the background; exit 0"};
  } else if (which == "daemonizes_setsid") {
    const char* pidfile = std::getenv("PIDFILE");
    program = {"redis-server", "--port",   "{port}", "--bind",    "{host}",
               "--save",       "",         "--appendonly", "no",  "--daemonize",
               "yes",          "--pidfile", pidfile ? pidfile : "/tmp/gtest_fork_env-redis.pid"};
  } else if (which == "unknown_placeholder") {
    program = {"/bin/sh", "-c", "exec sleep 30", "{upstream.port}"};
  } else if (which == "never_logs") {
    options.start_timeout = std::chrono::milliseconds(300);
    options.probe = gtest_fork_env::Probe::LogLine("ready to accept");
    program = {"/bin/sh", "-c", "echo 'still warming up'; exec sleep 30"};
  }
  env = gtest_fork_env::ForkServerEnv::Exec(program, options);
  ::testing::AddGlobalTestEnvironment(env);
  return RUN_ALL_TESTS();
}
