#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

// ctest's resource allocation (ctest --resource-spec-file): what ctest gave
// this test process, so that a server that needs a fixed port, or a data
// directory that only one test may use at a time, takes it from ctest instead
// of colliding with a parallel test. A port of 0 (the default) needs none of
// this: every server gets a port of its own from the kernel.

namespace gtest_fork_env {

// One resource ctest allocated, as the resource spec file names it.
struct CtestResource {
  std::string id;
  int slots = 0;
};

// The resources of `type` (lowercase, as in the spec file and the test's
// RESOURCE_GROUPS property) that ctest allocated to group `group` of this
// test, read from CTEST_RESOURCE_GROUP_<group>_<TYPE>. Empty when ctest ran
// without --resource-spec-file (CTEST_RESOURCE_GROUP_COUNT is unset) or gave
// the group nothing of that type.
// Errors: throws std::invalid_argument, naming the variable and what to do,
// when a variable is malformed or `group` is not below
// CTEST_RESOURCE_GROUP_COUNT.
std::vector<CtestResource> CtestResources(const std::string& type, int group = 0);

// Ports [first, last].
struct PortRange {
  uint16_t first = 0;
  uint16_t last = 0;
};

// The port range ctest allocated: the first resource of `type` in group
// `group`, whose id is "<first>" or "<first>_<last>", optionally after a
// lowercase prefix ("p20000", "ports_20000_20009"). std::nullopt when ctest
// allocated no resource of that type (see CtestResources).
// Errors: throws std::invalid_argument when the id holds no valid port
// numbers, or as CtestResources does.
std::optional<PortRange> CtestPortRange(const std::string& type = "ports", int group = 0);

}  // namespace gtest_fork_env
