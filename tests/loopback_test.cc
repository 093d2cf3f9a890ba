// The default server listens on loopback only. Checked in a network
// namespace of the test's own, with a veth address (10.254.0.1) that exists
// only there, so no traffic leaves the namespace.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "gtest_fork_env/fork_server_env.h"
#include "scenarios/servers.h"
#include "support/subprocess.h"

namespace {

using ::testing::HasSubstr;

TEST(Loopback, DefaultServerIsNotReachableOnANonLoopbackAddress) {
  ASSERT_EQ(geteuid(), 0u) << "needs root to make a network namespace (CI runs as root)";
  const std::string script =
      "set -e; ip link set lo up; ip link add gfe0 type veth peer name gfe1; "
      "ip addr add 10.254.0.1/24 dev gfe0; ip link set gfe0 up; ip link set gfe1 up; "
      "exec \"" + std::string(LOOPBACK_SCENARIO) + "\"";
  test_support::RunResult result = test_support::Run({UNSHARE, "--net", "/bin/sh", "-c", script});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("tried 10.254.0.1"));
  EXPECT_THAT(result.output, HasSubstr("[  PASSED  ] 2 tests"));
}

// Without a namespace: the kernel's own table shows the listening socket
// bound to 127.0.0.1, not to 0.0.0.0.
gtest_fork_env::ForkServerEnv* const env = static_cast<gtest_fork_env::ForkServerEnv*>(
    ::testing::AddGlobalTestEnvironment(new gtest_fork_env::ForkServerEnv(scenarios::ServeHello)));

TEST(Loopback, ListeningSocketIsBoundTo127001) {
  std::ifstream table("/proc/net/tcp");
  std::string line, local_address;
  char wanted_port[8];
  std::snprintf(wanted_port, sizeof wanted_port, "%04X", env->port());
  while (std::getline(table, line)) {
    // "  sl  local_address rem_address   st ...": 0A is LISTEN.
    char local[64] = {}, remote[64] = {}, state[8] = {};
    if (std::sscanf(line.c_str(), "%*s %63s %63s %7s", local, remote, state) != 3) continue;
    std::string address = local;
    if (address.size() > 5 && address.substr(address.size() - 4) == wanted_port &&
        std::string(state) == "0A") {
      local_address = address.substr(0, address.size() - 5);
    }
  }
  EXPECT_EQ(local_address, "0100007F");  // 127.0.0.1, little-endian hex
}

}  // namespace
