#pragma once

// Server functions of the HTTPS tests (tests/tls).

#include <gtest_fork_env/server_context.h>

namespace tls_test {

// httplib over TLS when the context has a certificate (Options::tls), plain
// HTTP otherwise. GET /hello -> "hello from <name>"; GET /env?name=X -> the
// value of the environment variable X in the server process.
int ServeHelloTls(gtest_fork_env::ServerContext& context);

// As ServeHelloTls, but every client must present a certificate signed by
// context.tls_ca_path() (mutual TLS).
int ServeRequiringClientCert(gtest_fork_env::ServerContext& context);

}  // namespace tls_test
