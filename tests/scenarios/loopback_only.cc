// Run inside a network namespace that has a non-loopback address (see
// loopback_test): the default server must be unreachable on every
// non-loopback address, while a server told to bind all interfaces is
// reachable there (which shows the check can fail).

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <gtest_fork_env/fork_server_env.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "servers.h"

namespace {

gtest_fork_env::ForkServerEnv* Add(const std::string& name, const std::string& host) {
  gtest_fork_env::Options options;
  options.name = name;
  options.host = host;
  return static_cast<gtest_fork_env::ForkServerEnv*>(::testing::AddGlobalTestEnvironment(
      new gtest_fork_env::ForkServerEnv(scenarios::ServeHello, options)));
}

gtest_fork_env::ForkServerEnv* const by_default = Add("default", "127.0.0.1");
gtest_fork_env::ForkServerEnv* const everywhere = Add("everywhere", "0.0.0.0");

struct Address {
  std::string text;
  sockaddr_storage storage;
  socklen_t length;
};

// The non-loopback addresses of this network namespace.
std::vector<Address> OwnAddresses() {
  std::vector<Address> addresses;
  struct ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return addresses;
  for (struct ifaddrs* entry = list; entry; entry = entry->ifa_next) {
    if (!entry->ifa_addr || (entry->ifa_flags & IFF_LOOPBACK)) continue;
    int family = entry->ifa_addr->sa_family;
    if (family != AF_INET && family != AF_INET6) continue;
    Address address{};
    address.length = family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    std::memcpy(&address.storage, entry->ifa_addr, address.length);
    char text[INET6_ADDRSTRLEN] = {};
    const void* raw = family == AF_INET
                          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(entry->ifa_addr)->sin_addr)
                          : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(entry->ifa_addr)->sin6_addr);
    inet_ntop(family, raw, text, sizeof text);
    address.text = text;
    addresses.push_back(address);
  }
  freeifaddrs(list);
  return addresses;
}

bool Connects(Address address, uint16_t port) {
  if (address.storage.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&address.storage)->sin_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in6*>(&address.storage)->sin6_port = htons(port);
  }
  int sock = socket(address.storage.ss_family, SOCK_STREAM, 0);
  bool connected =
      connect(sock, reinterpret_cast<sockaddr*>(&address.storage), address.length) == 0;
  close(sock);
  return connected;
}

TEST(LoopbackOnly, DefaultServerIsUnreachableOnEveryOtherAddress) {
  std::vector<Address> addresses = OwnAddresses();
  ASSERT_FALSE(addresses.empty()) << "no non-loopback address: run this in loopback_test's namespace";
  for (const Address& address : addresses) {
    std::printf("tried %s\n", address.text.c_str());
    EXPECT_FALSE(Connects(address, by_default->port())) << address.text;
  }
}

TEST(LoopbackOnly, ServerBoundToAllInterfacesIsReachableThere) {
  bool reached = false;
  for (const Address& address : OwnAddresses()) {
    if (address.storage.ss_family == AF_INET) reached |= Connects(address, everywhere->port());
  }
  EXPECT_TRUE(reached);
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
