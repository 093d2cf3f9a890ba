// A test binary for the fault matrix: FAULT names what goes wrong.
//   Server faults: segfault, closes_stdout, floods_log, never_answers (binds
//   and listens but never answers HTTP; probed with HttpGet).
//   Test binary faults: hangs (sleeps until ctest's timeout kills it),
//   throws_from_main (an exception escapes main after the tests ran).
// Each test prints SERVER_PID and SERVER_GROUP for the driver. Run by
// fault_matrix_test.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <gtest_fork_env/fork_server_env.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

#include "servers.h"

namespace {

std::string Fault() {
  const char* fault = std::getenv("FAULT");
  return fault ? fault : "";
}

gtest_fork_env::ForkServerEnv* env = nullptr;

int FaultyServer(gtest_fork_env::ServerContext& context) {
  const std::string fault = Fault();
  if (fault == "segfault") {
    std::printf("about to dereference null\n");
    std::fflush(stdout);
    std::raise(SIGSEGV);
  }
  if (fault == "closes_stdout") {
    std::printf("closing stdout and stderr now\n");
    std::fflush(stdout);
    close(1);
    close(2);
  }
  if (fault == "floods_log") {
    std::string line(1023, 'x');
    for (int i = 0; i < 20 * 1024; ++i) std::printf("%s\n", line.c_str());  // 20 MiB
    std::printf("last line after the flood\n");
    std::fflush(stdout);
  }
  if (fault == "never_answers") {
    int sock = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    inet_pton(AF_INET, context.host().c_str(), &address.sin_addr);
    bind(sock, reinterpret_cast<sockaddr*>(&address), sizeof address);
    listen(sock, 16);
    socklen_t length = sizeof address;
    getsockname(sock, reinterpret_cast<sockaddr*>(&address), &length);
    std::printf("listening, but answering nobody\n");
    std::fflush(stdout);
    context.NotifyListening(ntohs(address.sin_port));
    for (int i = 0; i < 60; ++i) sleep(1);
    return 0;
  }
  return scenarios::ServeHello(context);
}

}  // namespace

TEST(Faults, Run) {
  std::printf("SERVER_PID=%d\nSERVER_GROUP=%d\n", env->pid(), getpgid(env->pid()));
  std::fflush(stdout);
  httplib::Client client(env->host(), env->port());
  auto answer = client.Get("/hello");
  EXPECT_TRUE(answer);
  if (Fault() == "hangs") {
    std::printf("READY\n");
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::seconds(60));
  }
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  gtest_fork_env::Options options;
  options.name = "faulty-" + Fault();
  if (Fault() == "never_answers") {
    options.probe = gtest_fork_env::Probe::HttpGet("/");
    options.start_timeout = std::chrono::milliseconds(500);
  }
  env = new gtest_fork_env::ForkServerEnv(FaultyServer, options);
  ::testing::AddGlobalTestEnvironment(env);
  int result = RUN_ALL_TESTS();
  if (Fault() == "throws_from_main") throw std::runtime_error("thrown out of main");
  return result;
}
