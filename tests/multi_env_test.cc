// Several ForkServerEnvs in one binary: each has its own process, port and
// log.

#include <gtest/gtest.h>
#include <httplib.h>

#include "gtest_fork_env/fork_server_env.h"
#include "scenarios/servers.h"

namespace {

gtest_fork_env::ForkServerEnv* AddServer(const std::string& name) {
  gtest_fork_env::Options options;
  options.name = name;
  return static_cast<gtest_fork_env::ForkServerEnv*>(::testing::AddGlobalTestEnvironment(
      new gtest_fork_env::ForkServerEnv(scenarios::ServeHello, options)));
}

auto* const alpha = AddServer("alpha");
auto* const beta = AddServer("beta");

std::string Hello(const gtest_fork_env::ForkServerEnv& env) {
  httplib::Client client(env.host(), env.port());
  auto answer = client.Get("/hello");
  return answer ? answer->body : "no answer";
}

TEST(MultiEnv, EachServerAnswersWithItsName) {
  EXPECT_EQ(Hello(*alpha), "hello from alpha");
  EXPECT_EQ(Hello(*beta), "hello from beta");
}

TEST(MultiEnv, ServersHaveTheirOwnPortProcessAndLog) {
  EXPECT_NE(alpha->port(), beta->port());
  EXPECT_NE(alpha->pid(), beta->pid());
  EXPECT_NE(alpha->log_path(), beta->log_path());
  EXPECT_NE(alpha->log_path().find("alpha"), std::string::npos);
}

}  // namespace
