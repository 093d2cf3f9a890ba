#pragma once

// The throwaway keys and certificates behind Options::tls, made with OpenSSL's
// library (loaded at run time, see openssl_api.h), never with the `openssl`
// command, and never stored in the repository.

#include <string>
#include <vector>

#include "tls_files.h"

namespace gtest_fork_env::detail {

// Makes, in the existing directory `dir`: a CA (ca.pem; its key stays in
// memory and is thrown away), a server certificate and key signed by it
// (server.pem, server.key) whose subject alternative names are `hosts` plus
// 127.0.0.1, ::1 and localhost, and with `client_cert` a client certificate
// and key (client.pem, client.key). ECDSA P-256 keys, SHA-256 signatures,
// valid from one hour before now to one day after. Key files are mode 0600.
// Each file is written under a temporary name and renamed into place.
// Errors: "" on success, else what failed (with OpenSSL's reason).
std::string MakeTlsMaterial(const std::string& dir, const std::vector<std::string>& hosts,
                            bool client_cert);

// The material of this test binary: made on the first call, in a private
// directory (mode 0700) under $TEST_TMPDIR, $TMPDIR or /tmp; a later call
// that names a host the server certificate does not cover, or first asks for
// the client certificate, makes the missing parts with the same CA. The
// directory is removed when the process exits, and by the watchdog
// (watchdog.h) when it is killed. Not thread-safe: call from the test's main
// thread, before the servers start.
// Errors: "" on success, else what failed; `files` is set only on success.
std::string EnsureTlsMaterial(const std::vector<std::string>& hosts, bool client_cert,
                              TlsFiles* files);

// Removes the files of a TLS directory and the directory. Errors: ignored.
void RemoveTlsDirectory(const std::string& dir) noexcept;

}  // namespace gtest_fork_env::detail
