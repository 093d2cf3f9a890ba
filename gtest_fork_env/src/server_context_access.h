#pragma once

#include <string>
#include <utility>

#include "gtest_fork_env/server_context.h"
#include "tls_files.h"

namespace gtest_fork_env::detail {

// How the library fills in the parts of a ServerContext that a context made
// by hand does not have.
struct ServerContextAccess {
  // The server's end of the template protocol (Scope::kTest, kTestSuite).
  static void SetControlFd(ServerContext& context, int fd) { context.control_fd_ = fd; }
  static void SetDataDir(ServerContext& context, std::string dir) {
    context.data_dir_ = std::move(dir);
  }
  // Options::tls: the server's certificate, key and the CA.
  static void SetTls(ServerContext& context, const TlsFiles& files) {
    context.tls_cert_path_ = files.server_cert();
    context.tls_key_path_ = files.server_key();
    context.tls_ca_path_ = files.ca_cert();
  }
};

}  // namespace gtest_fork_env::detail
