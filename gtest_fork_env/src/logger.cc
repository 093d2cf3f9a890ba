#include "logger.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <memory>
#include <string>

namespace gtest_fork_env::detail {
namespace {

constexpr const char* kLoggerName = "gtest_fork_env";

// The level SPDLOG_LEVEL gives this logger: "name=level" entries win over a
// bare "level" entry, as in spdlog::cfg::load_env_levels. Parsed here so the
// library never changes the levels of the user's own loggers.
spdlog::level::level_enum LevelFromEnvironment() {
  const char* value = std::getenv("SPDLOG_LEVEL");
  spdlog::level::level_enum level = spdlog::level::info;
  if (!value) return level;
  std::string spec = value;
  size_t begin = 0;
  bool named = false;
  while (begin <= spec.size()) {
    size_t end = spec.find(',', begin);
    if (end == std::string::npos) end = spec.size();
    std::string item = spec.substr(begin, end - begin);
    size_t equals = item.find('=');
    if (equals == std::string::npos) {
      if (!named && !item.empty()) level = spdlog::level::from_str(item);
    } else if (item.substr(0, equals) == kLoggerName) {
      level = spdlog::level::from_str(item.substr(equals + 1));
      named = true;
    }
    begin = end + 1;
  }
  return level;
}

std::shared_ptr<spdlog::logger> MakeLogger() {
  if (auto existing = spdlog::get(kLoggerName)) return existing;
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(kLoggerName, std::move(sink));
  logger->set_pattern("[%n] [%^%l%$] %v");
  logger->set_level(LevelFromEnvironment());
  try {
    spdlog::register_logger(logger);
  } catch (const spdlog::spdlog_ex&) {
    // Registered meanwhile by someone else: use ours anyway.
  }
  return logger;
}

}  // namespace

spdlog::logger& Log() {
  // Never destroyed, like the other process-wide registries here.
  static auto* logger = new std::shared_ptr<spdlog::logger>(MakeLogger());
  return **logger;
}

}  // namespace gtest_fork_env::detail
