#include "logger.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "unique_fd.h"

namespace gtest_fork_env::detail {
namespace {

constexpr const char* kLoggerName = "gtest_fork_env";

// spdlog's names of the levels, and its colors for them (ANSI).
constexpr const char* kLevelNames[] = {"trace", "debug", "info", "warning", "error", "critical",
                                       "off"};
constexpr const char* kLevelColors[] = {"\033[37m",        "\033[36m",        "\033[32m",
                                        "\033[33m\033[1m", "\033[31m\033[1m", "\033[1m\033[41m",
                                        ""};

// spdlog::level::from_str: a level name, or "warn"/"err"; anything else is off.
LogLevel LevelFromName(const std::string& name) {
  for (int i = 0; i <= static_cast<int>(LogLevel::kOff); ++i) {
    if (name == kLevelNames[i]) return static_cast<LogLevel>(i);
  }
  if (name == "warn") return LogLevel::kWarn;
  if (name == "err") return LogLevel::kError;
  return LogLevel::kOff;
}

// Colors only on a terminal that has them, as spdlog's color sink decides.
bool StderrHasColors() {
  const char* term = std::getenv("TERM");
  return isatty(STDERR_FILENO) && term && *term && std::strcmp(term, "dumb") != 0;
}

}  // namespace

LogLevel LevelFromSpec(const char* spec, const std::string& name, LogLevel fallback) {
  if (!spec) return fallback;
  const std::string text = spec;
  LogLevel level = fallback;
  bool named = false;
  size_t begin = 0;
  while (begin <= text.size()) {
    size_t end = text.find(',', begin);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(begin, end - begin);
    const size_t equals = item.find('=');
    if (equals == std::string::npos) {
      if (!named && !item.empty()) level = LevelFromName(item);
    } else if (item.substr(0, equals) == name) {
      level = LevelFromName(item.substr(equals + 1));
      named = true;
    }
    begin = end + 1;
  }
  return level;
}

std::string FormatLine(const char* format, std::initializer_list<std::string> args) {
  std::string line;
  auto next = args.begin();
  for (const char* c = format; *c; ++c) {
    if ((c[0] == '{' && c[1] == '{') || (c[0] == '}' && c[1] == '}')) {
      line += *c++;
    } else if (c[0] == '{' && c[1] == '}' && next != args.end()) {
      line += *next++;
      ++c;
    } else {
      line += *c;
    }
  }
  return line;
}

void Logger::Emit(LogLevel level, const char* format,
                  std::initializer_list<std::string> args) const {
  static const bool colors = StderrHasColors();
  const int index = static_cast<int>(level);
  std::string line = std::string("[") + kLoggerName + "] [";
  line += colors ? std::string(kLevelColors[index]) + kLevelNames[index] + "\033[m"
                 : kLevelNames[index];
  line += "] " + FormatLine(format, args) + "\n";
  WriteAll(STDERR_FILENO, line.data(), line.size());  // a failed write to stderr is dropped
}

Logger& Log() {
  static auto* logger =
      new Logger(LevelFromSpec(std::getenv("SPDLOG_LEVEL"), kLoggerName, LogLevel::kInfo));
  return *logger;
}

}  // namespace gtest_fork_env::detail
