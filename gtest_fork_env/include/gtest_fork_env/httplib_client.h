#pragma once

// A ready-made httplib client for a ForkServerEnv, as Go's
// httptest.Server.Client(): the base address, the test CA, the client
// certificate for mutual TLS and bounded waits are already set, so a test
// never writes those lines. Header-only: it compiles with the CPPHTTPLIB_*
// settings of the code that includes it (link gtest_fork_env::httplib).

#include <httplib.h>
#include <signal.h>

#include "gtest_fork_env/fork_server_env.h"

namespace gtest_fork_env {

// A client of the server `env` runs now (call it after SetUp, e.g. in a
// test). For env.url() "https://...", it trusts exactly the test CA
// (env.ca_cert_path(); not the system's CAs, so a certificate from
// anywhere else fails verification) and checks the server's name; with
// Options::tls_client_auth it presents env.client_cert_path(). Connect within
// 5 s, read and write within 30 s, TCP_NODELAY on (Nagle against delayed ACK
// costs ~40 ms per small request).
//
// Also sets SIGPIPE to ignored in the test process, as httplib::Server does
// in a server: over TLS, httplib writes with SSL_write, which raises SIGPIPE
// when the server has closed the connection (a refused client certificate,
// a server that died), and that would end the test binary without a word.
inline httplib::Client MakeHttplibClient(const ForkServerEnv& env) {
  signal(SIGPIPE, SIG_IGN);
  httplib::Client client = env.client_cert_path().empty()
                               ? httplib::Client(env.url())
                               : httplib::Client(env.url(), env.client_cert_path(),
                                                 env.client_key_path());
  if (env.options().tls) {
    client.set_ca_cert_path(env.ca_cert_path());
    client.enable_server_certificate_verification(true);
  }
  client.set_tcp_nodelay(true);
  client.set_connection_timeout(std::chrono::seconds(5));
  client.set_read_timeout(std::chrono::seconds(30));
  client.set_write_timeout(std::chrono::seconds(30));
  return client;
}

}  // namespace gtest_fork_env
