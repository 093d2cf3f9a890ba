#include "checkpoint_library.h"

#include <elf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace gtest_fork_env::detail {
namespace {

bool Exists(const std::string& path) { return !path.empty() && access(path.c_str(), R_OK) == 0; }

// Whether the ELF file at `path` names a program interpreter (the dynamic
// loader): a statically linked program has none, and so preloads nothing.
// True when it cannot be told (not ELF, unreadable): no false diagnosis.
bool HasInterpreter(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  Elf64_Ehdr header;
  if (!file.read(reinterpret_cast<char*>(&header), sizeof header)) return true;
  if (header.e_ident[EI_MAG0] != ELFMAG0 || header.e_ident[EI_MAG1] != ELFMAG1 ||
      header.e_ident[EI_CLASS] != ELFCLASS64) {
    return true;
  }
  for (int i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr segment;
    file.seekg(static_cast<std::streamoff>(header.e_phoff + i * sizeof segment));
    if (!file.read(reinterpret_cast<char*>(&segment), sizeof segment)) return true;
    if (segment.p_type == PT_INTERP) return true;
  }
  return false;
}

}  // namespace

std::string FindCheckpointLibrary(std::string* looked_in) {
  std::string places[3];
  if (const char* chosen = std::getenv(kCheckpointLibraryVariable)) places[0] = chosen;
#if defined(GTEST_FORK_ENV_CHECKPOINT_LIBRARY_INSTALLED)
  places[1] = GTEST_FORK_ENV_CHECKPOINT_LIBRARY_INSTALLED;
#endif
#if defined(GTEST_FORK_ENV_CHECKPOINT_LIBRARY_BUILT)
  places[2] = GTEST_FORK_ENV_CHECKPOINT_LIBRARY_BUILT;
#endif
  looked_in->clear();
  for (const std::string& place : places) {
    if (place.empty()) continue;
    if (Exists(place)) {
      // As /proc/<pid>/maps names it (HasMapped).
      char* resolved = realpath(place.c_str(), nullptr);
      const std::string found = resolved ? resolved : place;
      std::free(resolved);
      return found;
    }
    *looked_in += (looked_in->empty() ? "" : ", ") + place;
  }
  if (looked_in->empty()) *looked_in = "nowhere: this build of gtest_fork_env has none";
  return "";
}

std::string PreloadEntry(const std::string& library) {
  const char* inherited = std::getenv("LD_PRELOAD");
  std::string entry = "LD_PRELOAD=" + library;
  if (inherited && *inherited) entry += std::string(":") + inherited;
  return entry;
}

std::optional<bool> HasMapped(pid_t pid, const std::string& library) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  bool any = false;
  for (std::string line; std::getline(maps, line); any = true) {
    if (line.size() >= library.size() &&
        line.compare(line.size() - library.size(), library.size(), library) == 0) {
      return true;
    }
  }
  if (!any) return std::nullopt;
  return false;
}

std::string WhyNotPreloadable(pid_t pid) {
  const std::string program = "/proc/" + std::to_string(pid) + "/exe";
  struct stat info;
  if (stat(program.c_str(), &info) == 0 && (info.st_mode & (S_ISUID | S_ISGID)) &&
      (info.st_uid != getuid() || info.st_gid != getgid())) {
    return "it is set-user-ID or set-group-ID, and the dynamic loader ignores LD_PRELOAD for such "
           "programs";
  }
  if (!HasInterpreter(program)) {
    return "it is statically linked, so no dynamic loader runs to preload anything";
  }
  return "";
}

}  // namespace gtest_fork_env::detail
