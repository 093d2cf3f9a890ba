#pragma once

#include <initializer_list>
#include <string>
#include <type_traits>

namespace gtest_fork_env::detail {

// The library's own messages to the test binary's stderr, one line each:
// "[gtest_fork_env] [warning] text", the level colored on a terminal, as
// spdlog printed them. The level comes from SPDLOG_LEVEL, read the way
// spdlog's env loader reads it ("debug", or "gtest_fork_env=debug,warn": a
// named entry wins over a bare one) and is "info" otherwise; a passing run
// logs nothing at that level.
//
// Not spdlog, on purpose: loading libspdlog and libfmt cost every test
// process about a millisecond before main, and spdlog's registry another
// 0.1 ms at the first message (docs/benchmarks.md). The call syntax is
// spdlog's subset the library uses: Log().debug("server '{}' on {}", a, b),
// where each "{}" takes the next argument (strings, characters strings and
// numbers) and "{{" / "}}" are literal braces. Arguments are formatted only
// when the level is enabled. Use it only in the test process, never in a
// server child.
enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kCritical, kOff };

class Logger {
 public:
  explicit Logger(LogLevel level) : level_(level) {}

  template <typename... Args>
  void trace(const char* format, const Args&... args) { Write(LogLevel::kTrace, format, args...); }
  template <typename... Args>
  void debug(const char* format, const Args&... args) { Write(LogLevel::kDebug, format, args...); }
  template <typename... Args>
  void info(const char* format, const Args&... args) { Write(LogLevel::kInfo, format, args...); }
  template <typename... Args>
  void warn(const char* format, const Args&... args) { Write(LogLevel::kWarn, format, args...); }
  template <typename... Args>
  void error(const char* format, const Args&... args) { Write(LogLevel::kError, format, args...); }

  bool should_log(LogLevel level) const { return level >= level_ && level != LogLevel::kOff; }
  LogLevel level() const { return level_; }

 private:
  static std::string Text(const std::string& value) { return value; }
  static std::string Text(const char* value) { return value ? value : "(null)"; }
  template <typename T, typename = std::enable_if_t<std::is_arithmetic_v<T>>>
  static std::string Text(T value) { return std::to_string(value); }

  template <typename... Args>
  void Write(LogLevel level, const char* format, const Args&... args) {
    if (!should_log(level)) return;
    Emit(level, format, {Text(args)...});
  }
  // Formats and writes one line with a single write(2).
  void Emit(LogLevel level, const char* format, std::initializer_list<std::string> args) const;

  LogLevel level_;
};

// The process's logger, made at the first call. Never destroyed.
Logger& Log();

// The level that a SPDLOG_LEVEL value gives the logger named `name`, as
// spdlog::cfg::load_env_levels would; `fallback` when it names none.
LogLevel LevelFromSpec(const char* spec, const std::string& name, LogLevel fallback);

// FormatLine("a {} c", {"b"}) == "a b c" (the syntax above).
std::string FormatLine(const char* format, std::initializer_list<std::string> args);

}  // namespace gtest_fork_env::detail
