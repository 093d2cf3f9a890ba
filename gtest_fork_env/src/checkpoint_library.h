#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

// The test process's side of Options::preload_checkpoint: where the
// checkpoint library is (preload/checkpoint_preload.cc), and, when a program
// never became a template, whether the library took hold in it and why not.

namespace gtest_fork_env::detail {

// Overrides where the checkpoint library is looked for (a relocated install).
constexpr const char* kCheckpointLibraryVariable = "GTEST_FORK_ENV_CHECKPOINT_LIBRARY";

// The checkpoint library's path: $GTEST_FORK_ENV_CHECKPOINT_LIBRARY, else
// where `cmake --install` put it, else this build tree's; "" when none of
// them exists, with the places looked at in `looked_in`.
std::string FindCheckpointLibrary(std::string* looked_in);

// "LD_PRELOAD=<library>" followed by what the test process preloads, if
// anything.
std::string PreloadEntry(const std::string& library);

// Whether the running process `pid` has `library` mapped; no value when
// that cannot be told (no /proc, or the process is exiting: an exiting
// process's map is empty).
std::optional<bool> HasMapped(pid_t pid, const std::string& library);

// Why the dynamic loader would not preload anything into the program that
// `pid` runs: "it is statically linked", "it is set-user-ID"; "" when
// neither is the case (or it cannot be told).
std::string WhyNotPreloadable(pid_t pid);

}  // namespace gtest_fork_env::detail
