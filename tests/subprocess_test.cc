// test_support::Run's environment for a child (support/subprocess.h): a
// child that is a GoogleTest binary of its own runs whole and writes none of
// this test's files, even when this test is one shard of a Bazel run.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>

#include "support/subprocess.h"

namespace {

using test_support::Run;
using test_support::RunOptions;
using test_support::RunResult;

// What /usr/bin/env prints in a child that Run starts with `env` added.
std::string ChildEnv(std::vector<std::string> env = {}) {
  RunOptions options;
  options.env = std::move(env);
  RunResult result = Run({"/usr/bin/env"}, options);
  EXPECT_TRUE(result.exited && result.exit_code == 0) << result.output;
  return "\n" + result.output;
}

TEST(ChildEnvironment, LeavesOutTheRunnersVariables) {
  for (const char* name : {"GTEST_SHARD_INDEX", "GTEST_TOTAL_SHARDS", "TEST_SHARD_INDEX",
                           "TEST_TOTAL_SHARDS", "XML_OUTPUT_FILE", "TEST_PREMATURE_EXIT_FILE",
                           "TEST_SHARD_STATUS_FILE", "GTEST_OUTPUT",
                           "TEST_INFRASTRUCTURE_FAILURE_FILE"}) {
    ASSERT_EQ(setenv(name, "from-the-runner", 1), 0);
    EXPECT_EQ(ChildEnv().find(std::string("\n") + name + "="), std::string::npos) << name;
  }
}

TEST(ChildEnvironment, KeepsTheRestAndTakesWhatTheTestGives) {
  ASSERT_EQ(setenv("SUBPROCESS_TEST_KEPT", "inherited", 1), 0);
  ASSERT_EQ(setenv("SUBPROCESS_TEST_REPLACED", "inherited", 1), 0);
  const std::string env = ChildEnv({"SUBPROCESS_TEST_REPLACED=given", "GTEST_SHARD_INDEX=7"});
  EXPECT_NE(env.find("\nSUBPROCESS_TEST_KEPT=inherited\n"), std::string::npos) << env;
  EXPECT_NE(env.find("\nSUBPROCESS_TEST_REPLACED=given\n"), std::string::npos) << env;
  EXPECT_EQ(env.find("\nSUBPROCESS_TEST_REPLACED=inherited\n"), std::string::npos) << env;
  EXPECT_NE(env.find("\nGTEST_SHARD_INDEX=7\n"), std::string::npos) << env;
}

}  // namespace
