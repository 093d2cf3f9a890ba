#pragma once

// OpenSSL, loaded at run time. The core library does not link libssl or
// libcrypto: loading them costs about 6 ms at the start of every process, and
// every test binary linked with the core would pay it, TLS or not. So the
// functions are looked up with dlopen/dlsym the first time Options::tls is
// on, and the headers (libssl-dev) give each pointer its exact type.

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <string>

namespace gtest_fork_env::detail {

#define GTEST_FORK_ENV_OPENSSL_POINTER(name) decltype(&::name) name = nullptr;

// The functions the library uses, one pointer each, named as in OpenSSL.
struct OpenSsl {
  // libcrypto: keys, certificates, PEM, errors.
  GTEST_FORK_ENV_OPENSSL_POINTER(EVP_PKEY_Q_keygen)
  GTEST_FORK_ENV_OPENSSL_POINTER(EVP_PKEY_free)
  GTEST_FORK_ENV_OPENSSL_POINTER(EVP_sha256)
  GTEST_FORK_ENV_OPENSSL_POINTER(X509_new)
  GTEST_FORK_ENV_OPENSSL_POINTER(X509_free)
  GTEST_FORK_ENV_OPENSSL_POINTER(X509_set_version)
  GTEST_FORK_ENV_OPENSSL_POINTER(X509_get_serialNumber)
  GTEST_FORK_ENV_OPENSSL_POINTER(ASN1_INTEGER_set_int64)
  GTEST_FORK_ENV_OPENSSL_POINTER(X509_getm_notBefore)
  GTEST_FORK_ENV_OPENSSL_POINTER(X509_getm_notAfter)
  GTEST_FORK_ENV_OPENSSL_POINTER(X509_gmtime_adj)
  GTEST_FORK_ENV_OPENSSL_POINTER(X509_set_pubkey)
  GTEST_FORK_ENV_OPENSSL_POINTER(X509_get_subject_name)
  GTEST_FORK_ENV_OPENSSL_POINTER(X509_set_issuer_name)
  GTEST_FORK_ENV_OPENSSL_POINTER(X509_NAME_add_entry_by_txt)
  GTEST_FORK_ENV_OPENSSL_POINTER(X509V3_set_ctx)
  GTEST_FORK_ENV_OPENSSL_POINTER(X509V3_EXT_nconf)
  GTEST_FORK_ENV_OPENSSL_POINTER(X509_add_ext)
  GTEST_FORK_ENV_OPENSSL_POINTER(X509_EXTENSION_free)
  GTEST_FORK_ENV_OPENSSL_POINTER(X509_sign)
  GTEST_FORK_ENV_OPENSSL_POINTER(X509_verify_cert_error_string)
  GTEST_FORK_ENV_OPENSSL_POINTER(BIO_new)
  GTEST_FORK_ENV_OPENSSL_POINTER(BIO_s_mem)
  GTEST_FORK_ENV_OPENSSL_POINTER(BIO_ctrl)
  GTEST_FORK_ENV_OPENSSL_POINTER(BIO_free)
  GTEST_FORK_ENV_OPENSSL_POINTER(PEM_write_bio_X509)
  GTEST_FORK_ENV_OPENSSL_POINTER(PEM_write_bio_PrivateKey)
  GTEST_FORK_ENV_OPENSSL_POINTER(ERR_get_error)
  GTEST_FORK_ENV_OPENSSL_POINTER(ERR_clear_error)
  GTEST_FORK_ENV_OPENSSL_POINTER(ERR_error_string_n)
  // libssl: the probes' TLS client.
  GTEST_FORK_ENV_OPENSSL_POINTER(TLS_client_method)
  GTEST_FORK_ENV_OPENSSL_POINTER(SSL_CTX_new)
  GTEST_FORK_ENV_OPENSSL_POINTER(SSL_CTX_free)
  GTEST_FORK_ENV_OPENSSL_POINTER(SSL_CTX_load_verify_locations)
  GTEST_FORK_ENV_OPENSSL_POINTER(SSL_CTX_use_certificate_chain_file)
  GTEST_FORK_ENV_OPENSSL_POINTER(SSL_CTX_use_PrivateKey_file)
  GTEST_FORK_ENV_OPENSSL_POINTER(SSL_CTX_set_verify)
  GTEST_FORK_ENV_OPENSSL_POINTER(SSL_new)
  GTEST_FORK_ENV_OPENSSL_POINTER(SSL_free)
  GTEST_FORK_ENV_OPENSSL_POINTER(SSL_set_fd)
  GTEST_FORK_ENV_OPENSSL_POINTER(SSL_ctrl)
  GTEST_FORK_ENV_OPENSSL_POINTER(SSL_get0_param)
  GTEST_FORK_ENV_OPENSSL_POINTER(X509_VERIFY_PARAM_set1_host)
  GTEST_FORK_ENV_OPENSSL_POINTER(X509_VERIFY_PARAM_set1_ip_asc)
  GTEST_FORK_ENV_OPENSSL_POINTER(SSL_connect)
  GTEST_FORK_ENV_OPENSSL_POINTER(SSL_write)
  GTEST_FORK_ENV_OPENSSL_POINTER(SSL_read)
  GTEST_FORK_ENV_OPENSSL_POINTER(SSL_shutdown)
  GTEST_FORK_ENV_OPENSSL_POINTER(SSL_get_error)
  GTEST_FORK_ENV_OPENSSL_POINTER(SSL_get_verify_result)
};

#undef GTEST_FORK_ENV_OPENSSL_POINTER

// Loads libcrypto.so.3 and libssl.so.3 (once per process; later calls return
// the same table). Thread-safe.
// Errors: nullptr, with `error` saying which library or function is missing
// and what to install.
const OpenSsl* LoadOpenSsl(std::string* error);

// The oldest queued OpenSSL error as text ("error:0A000086:SSL
// routines::certificate verify failed"), or `fallback` when there is none;
// clears the queue.
std::string TakeOpenSslError(const OpenSsl& ssl, const std::string& fallback);

}  // namespace gtest_fork_env::detail
