// ctest's resource allocation (<gtest_fork_env/ctest_resources.h>): the
// parser on its own, then a real `ctest -j4 --resource-spec-file` run of
// four tests that each need a fixed port, sharing two.

#include "gtest_fork_env/ctest_resources.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>
#include <string>

#include "support/subprocess.h"

namespace {

namespace fs = std::filesystem;
using gtest_fork_env::CtestPortRange;
using gtest_fork_env::CtestResources;
using ::testing::HasSubstr;

// The allocation variables ctest would set, for one test; removed after.
class Allocation {
 public:
  explicit Allocation(std::map<std::string, std::string> variables) : variables_(variables) {
    for (const auto& [name, value] : variables_) setenv(name.c_str(), value.c_str(), 1);
  }
  ~Allocation() {
    for (const auto& [name, value] : variables_) unsetenv(name.c_str());
  }

 private:
  std::map<std::string, std::string> variables_;
};

TEST(CtestResources, NothingWithoutAnAllocation) {
  unsetenv("CTEST_RESOURCE_GROUP_COUNT");
  EXPECT_TRUE(CtestResources("ports").empty());
  EXPECT_FALSE(CtestPortRange().has_value());
}

TEST(CtestResources, ReadsEveryResourceOfAType) {
  Allocation allocation({{"CTEST_RESOURCE_GROUP_COUNT", "2"},
                         {"CTEST_RESOURCE_GROUP_1_DATA_DIRS", "id:a,slots:1;id:b_2,slots:3"}});
  auto resources = CtestResources("data_dirs", 1);
  ASSERT_EQ(resources.size(), 2u);
  EXPECT_EQ(resources[0].id, "a");
  EXPECT_EQ(resources[0].slots, 1);
  EXPECT_EQ(resources[1].id, "b_2");
  EXPECT_EQ(resources[1].slots, 3);
  EXPECT_TRUE(CtestResources("data_dirs", 0).empty());
}

TEST(CtestPortRange, TakesOnePortOrARangeAfterAPrefix) {
  Allocation allocation({{"CTEST_RESOURCE_GROUP_COUNT", "3"},
                         {"CTEST_RESOURCE_GROUP_0_PORTS", "id:20000,slots:1"},
                         {"CTEST_RESOURCE_GROUP_1_PORTS", "id:p21000_21009,slots:1"},
                         {"CTEST_RESOURCE_GROUP_2_PORTS", "id:ports_22000,slots:1"}});
  EXPECT_EQ(CtestPortRange("ports", 0)->first, 20000);
  EXPECT_EQ(CtestPortRange("ports", 0)->last, 20000);
  EXPECT_EQ(CtestPortRange("ports", 1)->first, 21000);
  EXPECT_EQ(CtestPortRange("ports", 1)->last, 21009);
  EXPECT_EQ(CtestPortRange("ports", 2)->first, 22000);
}

TEST(CtestPortRange, BadInputIsAClearError) {
  Allocation allocation({{"CTEST_RESOURCE_GROUP_COUNT", "1"},
                         {"CTEST_RESOURCE_GROUP_0_PORTS", "id:p70000,slots:1"},
                         {"CTEST_RESOURCE_GROUP_0_GPUS", "slots:1"}});
  EXPECT_THROW(
      {
        try {
          CtestPortRange("ports");
        } catch (const std::invalid_argument& error) {
          EXPECT_THAT(error.what(), HasSubstr("'p70000'"));
          EXPECT_THAT(error.what(), HasSubstr("What to do:"));
          throw;
        }
      },
      std::invalid_argument);
  EXPECT_THROW(CtestResources("gpus"), std::invalid_argument);
  EXPECT_THROW(CtestResources("ports", 1), std::invalid_argument);
}

// Four tests, each needing a fixed port, two ports: ctest runs at most two at
// a time, each on a port of its own, and all pass. Without the allocation,
// two servers on one port would fail to bind.
TEST(CtestResourceSpec, ParallelTestsGetPortsOfTheirOwn) {
  const fs::path dir =
      fs::path(::testing::TempDir()) / ("ctest-resources-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const uint16_t first = test_support::FreePort();
  uint16_t second = test_support::FreePort();
  while (second == first) second = test_support::FreePort();
  std::ofstream(dir / "resources.json")
      << R"({"version": {"major": 1, "minor": 0}, "local": [{"ports": [)"
      << R"({"id": "p)" << first << R"(", "slots": 1}, {"id": "p)" << second
      << R"(", "slots": 1}]}]})";
  {
    std::ofstream file(dir / "CTestTestfile.cmake");
    for (int i = 0; i < 4; ++i) {
      file << "add_test(fixed_port_" << i << " \"" << CTEST_RESOURCE_PORT << "\")\n"
           << "set_tests_properties(fixed_port_" << i
           << " PROPERTIES RESOURCE_GROUPS \"ports:1\")\n";
    }
  }
  test_support::RunResult result =
      test_support::Run({CTEST_COMMAND, "--test-dir", dir.string(), "-j4", "-V",
                         "--resource-spec-file", (dir / "resources.json").string()});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("100% tests passed, 0 tests failed out of 4"));
  std::multiset<std::string> ports;
  for (size_t pos = result.output.find("SERVER_PORT="); pos != std::string::npos;
       pos = result.output.find("SERVER_PORT=", pos + 1)) {
    ports.insert(result.output.substr(pos + 12, result.output.find('\n', pos) - pos - 12));
  }
  EXPECT_EQ(ports.size(), 4u) << result.output;
  EXPECT_EQ(ports.count(std::to_string(first)) + ports.count(std::to_string(second)), 4u)
      << result.output;
  fs::remove_all(dir);
}

}  // namespace
