#pragma once

#include <cstddef>
#include <string>

#include "gtest_fork_env/server_context.h"

namespace sample_server {

// How one sample_server process runs. The defaults suit a test server.
struct Config {
  // The append-only log that makes the store durable: replayed at start,
  // appended to before every PUT or DELETE is acknowledged. Empty: the store
  // lives in memory only and is lost when the process ends. A relative path
  // under a ForkServerEnv is in the server's ServerContext::data_dir(), so
  // that under Scope::kTest each test has a data file of its own.
  std::string data_file;
  // Longest value a PUT may store; a longer body gets 413.
  size_t max_value_bytes = size_t{1} << 20;
  // Also fdatasync the data file after every write, before the reply: the
  // write then survives an OS crash or power loss, not only the death of
  // this process. Costs a disk flush per PUT or DELETE.
  bool fsync = false;
  // Worker threads, one per open connection, at most; each is made when a
  // connection finds none idle.
  size_t threads = 16;
  // HTTPS: the certificate and private key (PEM) to serve with. Both empty:
  // those of the ServerContext (Options::tls), or plain HTTP when it has none.
  std::string tls_cert;
  std::string tls_key;
};

// Runs the service until SIGTERM or SIGINT: makes the logger (level from
// SPDLOG_LEVEL) and the HTTP server, binds and reports through
// gtest_fork_env::ServeHttplib, and after its checkpoint opens and replays
// the data file and installs the API, then serves.
// Everything, the logger included, is made inside this call, so it is safe
// as the server function of a ForkServerEnv (it runs after the fork).
//
// Returns the process exit code: 0 after a requested stop, 1 when binding or
// serving failed, 2 when the data file cannot be used (the reason is logged).
int Serve(gtest_fork_env::ServerContext& context, const Config& config);

// `data_file` as Serve opens it: a relative path in `data_dir` when there is
// one (a ForkServerEnv's ServerContext::data_dir()), else unchanged.
std::string DataFilePath(const std::string& data_file, const std::string& data_dir);

}  // namespace sample_server
