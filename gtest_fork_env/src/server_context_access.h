#pragma once

#include <string>
#include <utility>

#include "gtest_fork_env/server_context.h"

namespace gtest_fork_env::detail {

// How the library fills in the parts of a ServerContext that a context made
// by hand does not have.
struct ServerContextAccess {
  // The server's end of the template protocol (Scope::kTest, kTestSuite).
  static void SetControlFd(ServerContext& context, int fd) { context.control_fd_ = fd; }
  static void SetDataDir(ServerContext& context, std::string dir) {
    context.data_dir_ = std::move(dir);
  }
};

}  // namespace gtest_fork_env::detail
