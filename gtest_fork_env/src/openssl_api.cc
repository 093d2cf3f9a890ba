#include "openssl_api.h"

#include <dlfcn.h>

#include <mutex>

namespace gtest_fork_env::detail {
namespace {

struct Loaded {
  OpenSsl table;
  std::string error;  // "" once loaded
};

// Looks up `name` in `library` and stores it into `slot`, typed by the slot.
template <typename Pointer>
bool Resolve(void* library, const char* name, Pointer& slot, std::string* error) {
  slot = reinterpret_cast<Pointer>(dlsym(library, name));
  if (!slot && error->empty()) *error = std::string("OpenSSL 3 lacks the function ") + name;
  return slot != nullptr;
}

void ResolveAll(void* crypto, void* ssl, Loaded& loaded) {
  OpenSsl& t = loaded.table;
  std::string* e = &loaded.error;
#define GTEST_FORK_ENV_RESOLVE(library, name) Resolve(library, #name, t.name, e)
  GTEST_FORK_ENV_RESOLVE(crypto, EVP_PKEY_Q_keygen);
  GTEST_FORK_ENV_RESOLVE(crypto, EVP_PKEY_free);
  GTEST_FORK_ENV_RESOLVE(crypto, EVP_sha256);
  GTEST_FORK_ENV_RESOLVE(crypto, X509_new);
  GTEST_FORK_ENV_RESOLVE(crypto, X509_free);
  GTEST_FORK_ENV_RESOLVE(crypto, X509_set_version);
  GTEST_FORK_ENV_RESOLVE(crypto, X509_get_serialNumber);
  GTEST_FORK_ENV_RESOLVE(crypto, ASN1_INTEGER_set_int64);
  GTEST_FORK_ENV_RESOLVE(crypto, X509_getm_notBefore);
  GTEST_FORK_ENV_RESOLVE(crypto, X509_getm_notAfter);
  GTEST_FORK_ENV_RESOLVE(crypto, X509_gmtime_adj);
  GTEST_FORK_ENV_RESOLVE(crypto, X509_set_pubkey);
  GTEST_FORK_ENV_RESOLVE(crypto, X509_get_subject_name);
  GTEST_FORK_ENV_RESOLVE(crypto, X509_set_issuer_name);
  GTEST_FORK_ENV_RESOLVE(crypto, X509_NAME_add_entry_by_txt);
  GTEST_FORK_ENV_RESOLVE(crypto, X509V3_set_ctx);
  GTEST_FORK_ENV_RESOLVE(crypto, X509V3_EXT_nconf);
  GTEST_FORK_ENV_RESOLVE(crypto, X509_add_ext);
  GTEST_FORK_ENV_RESOLVE(crypto, X509_EXTENSION_free);
  GTEST_FORK_ENV_RESOLVE(crypto, X509_sign);
  GTEST_FORK_ENV_RESOLVE(crypto, X509_verify_cert_error_string);
  GTEST_FORK_ENV_RESOLVE(crypto, BIO_new);
  GTEST_FORK_ENV_RESOLVE(crypto, BIO_s_mem);
  GTEST_FORK_ENV_RESOLVE(crypto, BIO_ctrl);
  GTEST_FORK_ENV_RESOLVE(crypto, BIO_free);
  GTEST_FORK_ENV_RESOLVE(crypto, PEM_write_bio_X509);
  GTEST_FORK_ENV_RESOLVE(crypto, PEM_write_bio_PrivateKey);
  GTEST_FORK_ENV_RESOLVE(crypto, ERR_get_error);
  GTEST_FORK_ENV_RESOLVE(crypto, ERR_clear_error);
  GTEST_FORK_ENV_RESOLVE(crypto, ERR_error_string_n);
  GTEST_FORK_ENV_RESOLVE(crypto, X509_VERIFY_PARAM_set1_host);
  GTEST_FORK_ENV_RESOLVE(crypto, X509_VERIFY_PARAM_set1_ip_asc);
  GTEST_FORK_ENV_RESOLVE(ssl, TLS_client_method);
  GTEST_FORK_ENV_RESOLVE(ssl, SSL_CTX_new);
  GTEST_FORK_ENV_RESOLVE(ssl, SSL_CTX_free);
  GTEST_FORK_ENV_RESOLVE(ssl, SSL_CTX_load_verify_locations);
  GTEST_FORK_ENV_RESOLVE(ssl, SSL_CTX_use_certificate_chain_file);
  GTEST_FORK_ENV_RESOLVE(ssl, SSL_CTX_use_PrivateKey_file);
  GTEST_FORK_ENV_RESOLVE(ssl, SSL_CTX_set_verify);
  GTEST_FORK_ENV_RESOLVE(ssl, SSL_new);
  GTEST_FORK_ENV_RESOLVE(ssl, SSL_free);
  GTEST_FORK_ENV_RESOLVE(ssl, SSL_set_fd);
  GTEST_FORK_ENV_RESOLVE(ssl, SSL_ctrl);
  GTEST_FORK_ENV_RESOLVE(ssl, SSL_get0_param);
  GTEST_FORK_ENV_RESOLVE(ssl, SSL_connect);
  GTEST_FORK_ENV_RESOLVE(ssl, SSL_write);
  GTEST_FORK_ENV_RESOLVE(ssl, SSL_read);
  GTEST_FORK_ENV_RESOLVE(ssl, SSL_shutdown);
  GTEST_FORK_ENV_RESOLVE(ssl, SSL_get_error);
  GTEST_FORK_ENV_RESOLVE(ssl, SSL_get_verify_result);
#undef GTEST_FORK_ENV_RESOLVE
}

Loaded* Load() {
  auto* loaded = new Loaded;  // never freed: the libraries stay loaded too
  // RTLD_LOCAL: the symbols do not leak into the global scope, so a test
  // binary that links another TLS library keeps its own.
  void* crypto = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
  void* ssl = crypto ? dlopen("libssl.so.3", RTLD_NOW | RTLD_LOCAL) : nullptr;
  if (!crypto || !ssl) {
    const char* why = dlerror();
    loaded->error = std::string("cannot load OpenSSL 3 (") + (why ? why : "unknown error") +
                    "); install it (Debian: libssl3)";
    return loaded;
  }
  ResolveAll(crypto, ssl, *loaded);
  return loaded;
}

}  // namespace

const OpenSsl* LoadOpenSsl(std::string* error) {
  static std::once_flag once;
  static Loaded* loaded = nullptr;
  std::call_once(once, [] { loaded = Load(); });
  if (!loaded->error.empty()) {
    if (error) *error = loaded->error;
    return nullptr;
  }
  return &loaded->table;
}

std::string TakeOpenSslError(const OpenSsl& ssl, const std::string& fallback) {
  unsigned long code = ssl.ERR_get_error();
  if (code == 0) return fallback;
  char text[256];
  ssl.ERR_error_string_n(code, text, sizeof text);
  ssl.ERR_clear_error();
  return text;
}

}  // namespace gtest_fork_env::detail
