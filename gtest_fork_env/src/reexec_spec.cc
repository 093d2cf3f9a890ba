#include "reexec_spec.h"

#include <cstdlib>

namespace gtest_fork_env::detail {
namespace {

// Reads a decimal number followed by ':' at `pos`, advancing past the ':'.
bool ReadField(const std::string& text, size_t* pos, long* value) {
  const char* begin = text.c_str() + *pos;
  char* end = nullptr;
  *value = std::strtol(begin, &end, 10);
  if (end == begin || *end != ':') return false;
  *pos += static_cast<size_t>(end - begin) + 1;
  return true;
}

}  // namespace

std::string FormatReexecSpec(const ReexecSpec& spec) {
  return std::to_string(spec.index) + ":" + std::to_string(spec.notify_fd) + ":" +
         std::to_string(spec.control_fd) + ":" + std::to_string(spec.port) + ":" +
         std::to_string(spec.name.size()) + ":" + spec.name + spec.data_dir;
}

bool ParseReexecSpec(const std::string& text, ReexecSpec* spec) {
  size_t pos = 0;
  long index, notify_fd, control_fd, port, name_length;
  if (!ReadField(text, &pos, &index) || !ReadField(text, &pos, &notify_fd) ||
      !ReadField(text, &pos, &control_fd) || !ReadField(text, &pos, &port) ||
      !ReadField(text, &pos, &name_length)) {
    return false;
  }
  if (index < 0 || notify_fd < 0 || control_fd < -1 || port < 0 || port > 65535 ||
      name_length < 0 || pos + static_cast<size_t>(name_length) > text.size()) {
    return false;
  }
  spec->index = static_cast<int>(index);
  spec->notify_fd = static_cast<int>(notify_fd);
  spec->control_fd = static_cast<int>(control_fd);
  spec->port = static_cast<uint16_t>(port);
  spec->name = text.substr(pos, static_cast<size_t>(name_length));
  spec->data_dir = text.substr(pos + static_cast<size_t>(name_length));
  return true;
}

}  // namespace gtest_fork_env::detail
