#include "template_protocol.h"

#include <signal.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "unique_fd.h"

namespace gtest_fork_env::detail {
namespace {

const char* KindName(TemplateMessage::Kind kind) {
  switch (kind) {
    case TemplateMessage::Kind::kLinked: return "linked";
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

bool CarriesNumber(TemplateMessage::Kind kind) {
  return !CarriesText(kind) && kind != TemplateMessage::Kind::kCheckpoint &&
         kind != TemplateMessage::Kind::kLinked;
}

bool Parse(const std::string& line, TemplateMessage* message) {
  const std::string word = line.substr(0, line.find(' '));
  const std::string rest = line.size() > word.size() ? line.substr(word.size() + 1) : "";
  for (auto kind : {TemplateMessage::Kind::kLinked, TemplateMessage::Kind::kCheckpoint,
                    TemplateMessage::Kind::kThreads,
                    TemplateMessage::Kind::kClone, TemplateMessage::Kind::kSpare,
                    TemplateMessage::Kind::kPid,
                    TemplateMessage::Kind::kError}) {
    if (word != KindName(kind)) continue;
    message->kind = kind;
    message->text = CarriesText(kind) ? rest : std::string();
    message->number = 0;
    if (CarriesText(kind) || !CarriesNumber(kind)) return true;
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

// Allocates nothing (a template may be out of memory, and the checkpoint
// library is built without exceptions): the line goes out in pieces.
std::error_code SendMessage(int fd, const TemplateMessage& message) noexcept {
  char number[24];
  const char* rest = number;
  size_t rest_size = 0;
  if (CarriesText(message.kind)) {
    rest = message.text.data();
    rest_size = message.text.size();
  } else if (CarriesNumber(message.kind)) {
    rest_size = static_cast<size_t>(std::snprintf(number, sizeof number, "%ld", message.number));
  }
  const char* kind = KindName(message.kind);
  struct iovec pieces[4] = {{const_cast<char*>(kind), std::strlen(kind)},
                            {const_cast<char*>(" "), rest_size ? 1u : 0u},
                            {const_cast<char*>(rest), rest_size},
                            {const_cast<char*>("\n"), 1}};
  size_t total = 0;
  for (const struct iovec& piece : pieces) total += piece.iov_len;
  // One line at a time in flight on a socket that holds far more: a short
  // write would mean a broken peer, and is reported as an error.
  const ssize_t written = RetryOnEintr([&] { return writev(fd, pieces, 4); });
  if (written < 0) return LastError();
  if (static_cast<size_t>(written) != total) return std::make_error_code(std::errc::io_error);
  return {};
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
