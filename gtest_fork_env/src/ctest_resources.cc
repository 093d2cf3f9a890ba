#include "gtest_fork_env/ctest_resources.h"

#include <cctype>
#include <cstdlib>
#include <stdexcept>

// The format is CMake's (ctest(1), "Environment Variables" of resource
// allocation): CTEST_RESOURCE_GROUP_COUNT=<n>, and for each group
// CTEST_RESOURCE_GROUP_<i>_<TYPE>=id:<id>,slots:<n>;id:<id>,slots:<n>...

namespace gtest_fork_env {
namespace {

[[noreturn]] void Malformed(const std::string& variable, const std::string& what) {
  throw std::invalid_argument("gtest_fork_env: " + variable + " " + what +
                              ". What to do: check the resource spec file given to ctest "
                              "--resource-spec-file and the test's RESOURCE_GROUPS property.");
}

// "id:<id>,slots:<n>" of `variable`.
CtestResource ParseResource(const std::string& variable, const std::string& entry) {
  const size_t comma = entry.find(",slots:");
  if (entry.compare(0, 3, "id:") != 0 || comma == std::string::npos || comma == 3) {
    Malformed(variable, "has '" + entry + "', not 'id:<id>,slots:<n>'");
  }
  CtestResource resource;
  resource.id = entry.substr(3, comma - 3);
  const std::string slots = entry.substr(comma + 7);
  char* end = nullptr;
  long count = std::strtol(slots.c_str(), &end, 10);
  if (slots.empty() || *end != '\0' || count <= 0) {
    Malformed(variable, "has a bad slot count '" + slots + "'");
  }
  resource.slots = static_cast<int>(count);
  return resource;
}

// The number at `text[*pos]`, advancing `*pos`; -1 when there is none or it
// is not a port (1-65535).
long ParsePort(const std::string& text, size_t* pos) {
  size_t begin = *pos;
  while (*pos < text.size() && std::isdigit(static_cast<unsigned char>(text[*pos]))) ++*pos;
  if (*pos == begin || *pos - begin > 5) return -1;
  long port = std::strtol(text.substr(begin, *pos - begin).c_str(), nullptr, 10);
  return port >= 1 && port <= 65535 ? port : -1;
}

}  // namespace

std::vector<CtestResource> CtestResources(const std::string& type, int group) {
  const char* count_text = std::getenv("CTEST_RESOURCE_GROUP_COUNT");
  if (!count_text || !*count_text) return {};
  const long count = std::strtol(count_text, nullptr, 10);
  if (group < 0 || group >= count) {
    Malformed("CTEST_RESOURCE_GROUP_COUNT", "is " + std::string(count_text) +
                                                ", so there is no resource group " +
                                                std::to_string(group));
  }
  std::string variable = "CTEST_RESOURCE_GROUP_" + std::to_string(group) + "_";
  for (char c : type) variable += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const char* value = std::getenv(variable.c_str());
  std::vector<CtestResource> resources;
  const std::string list = value ? value : "";
  size_t begin = 0;
  while (begin < list.size()) {
    size_t end = list.find(';', begin);
    if (end == std::string::npos) end = list.size();
    resources.push_back(ParseResource(variable, list.substr(begin, end - begin)));
    begin = end + 1;
  }
  return resources;
}

std::optional<PortRange> CtestPortRange(const std::string& type, int group) {
  const std::vector<CtestResource> resources = CtestResources(type, group);
  if (resources.empty()) return std::nullopt;
  const std::string& id = resources.front().id;
  size_t pos = 0;
  while (pos < id.size() && !std::isdigit(static_cast<unsigned char>(id[pos]))) ++pos;
  const long first = ParsePort(id, &pos);
  long last = first;
  if (first > 0 && pos < id.size() && id[pos] == '_') {
    ++pos;
    last = ParsePort(id, &pos);
  }
  if (first < 0 || last < first || pos != id.size()) {
    Malformed("CTEST_RESOURCE_GROUP_" + std::to_string(group) + "_<" + type + ">",
              "names resource '" + id +
                  "', which is not '<first port>' or "
                  "'<first port>_<last port>' after an optional prefix");
  }
  return PortRange{static_cast<uint16_t>(first), static_cast<uint16_t>(last)};
}

}  // namespace gtest_fork_env
