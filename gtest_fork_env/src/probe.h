#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace gtest_fork_env::detail {

// One readiness attempt. On failure `reason` says what was seen
// ("Connection refused", "status 503", "no answer within 250 ms").
struct ProbeResult {
  bool ok = false;
  std::string reason;
  // What to do about `reason`, when the probe can tell (TLS failures); else "".
  std::string advice;
};

// The files a TLS probe uses (Options::tls): the CA that the server's
// certificate must chain to, and, for mutual TLS, the client's certificate
// and key. An empty `ca_cert` means plain TCP.
struct TlsClientFiles {
  std::string ca_cert;
  std::string client_cert;
  std::string client_key;
};

// Opens and closes one TCP connection to host:port within `timeout`.
ProbeResult TcpConnectOnce(const std::string& host, uint16_t port,
                           std::chrono::milliseconds timeout);

// Sends one "GET path HTTP/1.1" (Connection: close) and checks that the
// status code is in [min_status, max_status], all within `timeout`. Raw
// sockets on purpose: the core library does not depend on an HTTP library.
// With `tls.ca_cert` set, speaks HTTPS and verifies the server as
// TlsHandshakeOnce does.
ProbeResult HttpGetOnce(const std::string& host, uint16_t port, const std::string& path,
                        int min_status, int max_status, std::chrono::milliseconds timeout,
                        const TlsClientFiles& tls = {});

// Connects, completes a TLS handshake that verifies the server's certificate
// against `tls.ca_cert` and its name against `host` (presenting the client
// certificate when one is given), then closes with close_notify and reads
// until the server closes, so that a refused client certificate (an alert
// that TLS 1.3 sends after the handshake) is seen. A server that stays quiet
// for 250 ms after the handshake counts as ready. On failure, `reason` says
// what went wrong (plain HTTP on the port, the certificate failed
// verification and why, a client certificate was required or refused) and
// `advice` what to do. OpenSSL is loaded on first use (openssl_api.h).
// Makes the TLS probes' client context for `tls` now (it is kept for their
// attempts). Called in the test process before a TLS server is forked:
// OpenSSL 3's one-time initialisation (5 to 20 ms, in the first SSL_CTX_new
// of a process) then happens once, and a forked server inherits it instead
// of paying it at every start. Errors: ignored here; the probe reports them.
void WarmUpTlsClient(const TlsClientFiles& tls);

ProbeResult TlsHandshakeOnce(const std::string& host, uint16_t port, const TlsClientFiles& tls,
                             std::chrono::milliseconds timeout);

}  // namespace gtest_fork_env::detail
