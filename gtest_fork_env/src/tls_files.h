#pragma once

// Where the TLS material of a test binary lives (Options::tls), without
// OpenSSL: the server process only needs the paths. The file names in the
// directory are fixed, so the directory alone names every file; that is how
// a re-executed copy of the binary learns them (kTlsDirVariable).

#include <string>


namespace gtest_fork_env::detail {

// Set in a re-executed copy's environment when its server has Options::tls.
constexpr const char* kTlsDirVariable = "GTEST_FORK_ENV_INTERNAL_TLS_DIR";

// The files in one TLS directory; every path is empty when `dir` is.
struct TlsFiles {
  std::string dir;

  std::string In(const char* file) const { return dir.empty() ? std::string() : dir + "/" + file; }
  std::string ca_cert() const { return In("ca.pem"); }
  std::string server_cert() const { return In("server.pem"); }
  std::string server_key() const { return In("server.key"); }
  std::string client_cert() const { return In("client.pem"); }
  std::string client_key() const { return In("client.key"); }
};

}  // namespace gtest_fork_env::detail
