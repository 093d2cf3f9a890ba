// The library's logger: spdlog's "{}" syntax and SPDLOG_LEVEL rules.

#include "logger.h"

#include <gtest/gtest.h>

namespace gtest_fork_env::detail {
namespace {

TEST(Logger, FormatsEachPlaceholderWithTheNextArgument) {
  EXPECT_EQ(FormatLine("server '{}' on {}:{}", {"a", "127.0.0.1", "80"}),
            "server 'a' on 127.0.0.1:80");
  EXPECT_EQ(FormatLine("{{}} {}", {"x"}), "{} x");
  EXPECT_EQ(FormatLine("{} and {}", {"one"}), "one and {}");
  EXPECT_EQ(FormatLine("none", {}), "none");
}

TEST(Logger, ReadsSpdlogLevelLikeSpdlog) {
  EXPECT_EQ(LevelFromSpec(nullptr, "gtest_fork_env", LogLevel::kInfo), LogLevel::kInfo);
  EXPECT_EQ(LevelFromSpec("debug", "gtest_fork_env", LogLevel::kInfo), LogLevel::kDebug);
  EXPECT_EQ(LevelFromSpec("gtest_fork_env=trace,warn", "gtest_fork_env", LogLevel::kInfo),
            LogLevel::kTrace);
  EXPECT_EQ(LevelFromSpec("warn,gtest_fork_env=err", "gtest_fork_env", LogLevel::kInfo),
            LogLevel::kError);
  EXPECT_EQ(LevelFromSpec("other=debug", "gtest_fork_env", LogLevel::kInfo), LogLevel::kInfo);
  EXPECT_EQ(LevelFromSpec("nonsense", "gtest_fork_env", LogLevel::kInfo), LogLevel::kOff);
}

TEST(Logger, FormatsArgumentsOnlyWhenTheLevelIsOn) {
  Logger quiet(LogLevel::kWarn);
  EXPECT_FALSE(quiet.should_log(LogLevel::kDebug));
  EXPECT_TRUE(quiet.should_log(LogLevel::kError));
  EXPECT_FALSE(Logger(LogLevel::kOff).should_log(LogLevel::kCritical));
}

}  // namespace
}  // namespace gtest_fork_env::detail
