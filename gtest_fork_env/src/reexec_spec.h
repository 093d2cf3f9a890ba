#pragma once

#include <cstdint>
#include <string>

// What a re-executed copy of the test binary needs to run one server, passed
// in one environment variable. Its writer (the test process) and its parser
// (the copy) live side by side here, as GoogleTest keeps its
// --gtest_internal_run_death_test flag and the parser of it.

namespace gtest_fork_env::detail {

// The variable that makes a re-executed test binary run one server.
constexpr const char* kServeVariable = "GTEST_FORK_ENV_INTERNAL_SERVE";

struct ReexecSpec {
  int index = -1;        // which ForkServerEnv of the binary, in construction order
  int notify_fd = -1;    // write end of the port pipe
  int control_fd = -1;   // the template protocol's socket; -1 under Scope::kBinary
  uint16_t port = 0;     // the port to bind; 0: any
  std::string name;      // Options::name, to check the index names the same server
  std::string data_dir;  // ServerContext::data_dir()
};

// "<index>:<notify fd>:<control fd>:<port>:<name length>:<name><data dir>"
std::string FormatReexecSpec(const ReexecSpec& spec);

// False when `text` is not a spec FormatReexecSpec wrote.
bool ParseReexecSpec(const std::string& text, ReexecSpec* spec);

}  // namespace gtest_fork_env::detail
