#include "template_protocol.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>

#include "unique_fd.h"

namespace gtest_fork_env::detail {
namespace {

const char* KindName(TemplateMessage::Kind kind) {
  switch (kind) {
    case TemplateMessage::Kind::kCheckpoint: return "checkpoint";
    case TemplateMessage::Kind::kThreads: return "threads";
    case TemplateMessage::Kind::kClone: return "clone";
    case TemplateMessage::Kind::kSpare: return "spare";
    case TemplateMessage::Kind::kPid: return "pid";
    case TemplateMessage::Kind::kError: return "error";
  }
  return "";
}

bool CarriesText(TemplateMessage::Kind kind) {
  return kind == TemplateMessage::Kind::kClone || kind == TemplateMessage::Kind::kSpare;
}

bool Parse(const std::string& line, TemplateMessage* message) {
  const std::string word = line.substr(0, line.find(' '));
  const std::string rest = line.size() > word.size() ? line.substr(word.size() + 1) : "";
  for (auto kind : {TemplateMessage::Kind::kCheckpoint, TemplateMessage::Kind::kThreads,
                    TemplateMessage::Kind::kClone, TemplateMessage::Kind::kSpare,
                    TemplateMessage::Kind::kPid,
                    TemplateMessage::Kind::kError}) {
    if (word != KindName(kind)) continue;
    message->kind = kind;
    message->text = CarriesText(kind) ? rest : std::string();
    message->number = 0;
    if (CarriesText(kind) || kind == TemplateMessage::Kind::kCheckpoint) return true;
    char* end = nullptr;
    message->number = std::strtol(rest.c_str(), &end, 10);
    return !rest.empty() && end && *end == '\0';
  }
  return false;
}

}  // namespace

int SpareGoSignal() noexcept { return SIGRTMAX - 1; }

std::error_code SendGo(pid_t pid) noexcept {
  union sigval value;
  value.sival_int = 0;
  if (sigqueue(pid, SpareGoSignal(), value) != 0) return LastError();
  return {};
}

std::error_code SendMessage(int fd, const TemplateMessage& message) noexcept {
  try {
    std::string line = KindName(message.kind);
    if (CarriesText(message.kind)) {
      line += " " + message.text;
    } else if (message.kind != TemplateMessage::Kind::kCheckpoint) {
      line += " " + std::to_string(message.number);
    }
    line += "\n";
    return WriteAll(fd, line.data(), line.size());
  } catch (const std::bad_alloc&) {
    return std::make_error_code(std::errc::not_enough_memory);
  }
}

bool MessageReader::Fill(int fd) {
  char chunk[512];
  ssize_t got = RetryOnEintr([&] { return read(fd, chunk, sizeof chunk); });
  if (got > 0) {
    buffer_.append(chunk, static_cast<size_t>(got));
    return true;
  }
  return got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

bool MessageReader::Next(TemplateMessage* message) {
  for (;;) {
    size_t newline = buffer_.find('\n');
    if (newline == std::string::npos) return false;
    std::string line = buffer_.substr(0, newline);
    buffer_.erase(0, newline + 1);
    if (Parse(line, message)) return true;
  }
}

}  // namespace gtest_fork_env::detail
