#include "tls_material.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <utility>

#include "openssl_api.h"
#include "test_runner.h"
#include "unique_fd.h"
#include "watchdog.h"

namespace gtest_fork_env::detail {
namespace {

constexpr long kValidBeforeNowSeconds = 60 * 60;   // clocks of containers differ a little
constexpr long kValidAfterNowSeconds = 24 * 60 * 60;  // longer than any test run

// A key and the certificate that carries it.
struct Identity {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
};

void Free(const OpenSsl& ssl, Identity& identity) {
  if (identity.cert) ssl.X509_free(identity.cert);
  if (identity.key) ssl.EVP_PKEY_free(identity.key);
  identity = Identity{};
}

// "IP:127.0.0.1,IP:::1,DNS:localhost" and each of `hosts` not yet there.
std::string SubjectAltNames(const std::vector<std::string>& hosts) {
  std::vector<std::string> entries = {"IP:127.0.0.1", "IP:::1", "DNS:localhost"};
  for (const std::string& host : hosts) {
    unsigned char address[16];
    const bool ip = inet_pton(AF_INET, host.c_str(), address) == 1 ||
                    inet_pton(AF_INET6, host.c_str(), address) == 1;
    std::string entry = (ip ? "IP:" : "DNS:") + host;
    if (!host.empty() && std::find(entries.begin(), entries.end(), entry) == entries.end()) {
      entries.push_back(entry);
    }
  }
  std::string list;
  for (const std::string& entry : entries) list += (list.empty() ? "" : ",") + entry;
  return list;
}

bool AddExtension(const OpenSsl& ssl, X509* cert, X509* issuer, const char* name,
                  const std::string& value) {
  X509V3_CTX context{};
  ssl.X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = ssl.X509V3_EXT_nconf(nullptr, &context, name, value.c_str());
  if (!extension) return false;
  const bool added = ssl.X509_add_ext(cert, extension, -1) == 1;
  ssl.X509_EXTENSION_free(extension);
  return added;
}

// A fresh P-256 key and a certificate for it named `common_name`, signed by
// `issuer` (self-signed when issuer.cert is null), with `extensions`.
// Errors: "" or what failed; `out` is set only on success.
std::string Issue(const OpenSsl& ssl, const std::string& common_name, const Identity& issuer,
                  const std::vector<std::pair<const char*, std::string>>& extensions,
                  Identity* out) {
  Identity made;
  made.key = ssl.EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  made.cert = made.key ? ssl.X509_new() : nullptr;
  if (!made.cert) {
    Free(ssl, made);
    return TakeOpenSslError(ssl, "cannot make a P-256 key");
  }
  std::random_device random;
  const int64_t serial = (static_cast<int64_t>(random()) << 30) ^ random();
  X509_NAME* name = ssl.X509_get_subject_name(made.cert);
  const auto* cn = reinterpret_cast<const unsigned char*>(common_name.c_str());
  X509* signer_cert = issuer.cert ? issuer.cert : made.cert;
  EVP_PKEY* signer_key = issuer.key ? issuer.key : made.key;
  bool ok = ssl.X509_set_version(made.cert, 2) == 1 &&
            ssl.ASN1_INTEGER_set_int64(ssl.X509_get_serialNumber(made.cert), serial) == 1 &&
            ssl.X509_gmtime_adj(ssl.X509_getm_notBefore(made.cert), -kValidBeforeNowSeconds) &&
            ssl.X509_gmtime_adj(ssl.X509_getm_notAfter(made.cert), kValidAfterNowSeconds) &&
            ssl.X509_set_pubkey(made.cert, made.key) == 1 &&
            ssl.X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, cn, -1, -1, 0) == 1 &&
            ssl.X509_set_issuer_name(made.cert, ssl.X509_get_subject_name(signer_cert)) == 1;
  for (const auto& [extension, value] : extensions) {
    ok = ok && AddExtension(ssl, made.cert, signer_cert, extension, value);
  }
  ok = ok && ssl.X509_sign(made.cert, signer_key, ssl.EVP_sha256()) > 0;
  if (!ok) {
    Free(ssl, made);
    return TakeOpenSslError(ssl, "cannot make the certificate '" + common_name + "'");
  }
  *out = made;
  return "";
}

// PEM text of a certificate (`cert`) or of a private key (`key`).
std::string Pem(const OpenSsl& ssl, X509* cert, EVP_PKEY* key) {
  BIO* bio = ssl.BIO_new(ssl.BIO_s_mem());
  if (!bio) return "";
  const bool written = cert ? ssl.PEM_write_bio_X509(bio, cert) == 1
                            : ssl.PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0,
                                                           nullptr, nullptr) == 1;
  char* data = nullptr;
  long size = written ? ssl.BIO_ctrl(bio, BIO_CTRL_INFO, 0, &data) : 0;
  std::string text = size > 0 ? std::string(data, static_cast<size_t>(size)) : "";
  ssl.BIO_free(bio);
  return text;
}

// Writes `text` to `path` with `mode` from the first byte on: a temporary
// file, then a rename, so that a server never reads half a file.
std::string WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  if (text.empty()) return "cannot encode " + path + " as PEM";
  const std::string temporary = path + ".tmp";
  UniqueFd fd(open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode));
  std::error_code error = fd ? std::error_code() : LastError();
  if (!error && fchmod(fd.get(), mode) != 0) error = LastError();
  if (!error) error = WriteAll(fd.get(), text.data(), text.size());
  fd.reset();
  if (!error && rename(temporary.c_str(), path.c_str()) != 0) error = LastError();
  if (error) {
    unlink(temporary.c_str());
    return "cannot write " + path + ": " + error.message();
  }
  return "";
}

// Issues a certificate signed by `ca` and writes "<stem>.pem" and
// "<stem>.key" into `files.dir`.
std::string WriteLeaf(const OpenSsl& ssl, const Identity& ca, const TlsFiles& files,
                      const std::string& stem, const std::string& alt_names) {
  const bool server = stem == "server";
  std::vector<std::pair<const char*, std::string>> extensions = {
      {"basicConstraints", "critical,CA:FALSE"},
      {"keyUsage", "critical,digitalSignature"},
      {"extendedKeyUsage", server ? "serverAuth" : "clientAuth"},
      {"subjectKeyIdentifier", "hash"},
      {"authorityKeyIdentifier", "keyid"}};
  if (server) extensions.push_back({"subjectAltName", alt_names});
  Identity leaf;
  std::string error = Issue(ssl, "gtest_fork_env test " + stem, ca, extensions, &leaf);
  if (error.empty()) error = WriteFile(files.In((stem + ".key").c_str()), Pem(ssl, nullptr, leaf.key), 0600);
  if (error.empty()) error = WriteFile(files.In((stem + ".pem").c_str()), Pem(ssl, leaf.cert, nullptr), 0644);
  Free(ssl, leaf);
  return error;
}

// A new CA whose certificate is written to ca.pem; its key is never written.
std::string MakeAuthority(const OpenSsl& ssl, const TlsFiles& files, Identity* ca) {
  // A name of its own: verifiers look a CA up by name, and two CAs that
  // share one (this binary's and another's) would be confused.
  std::random_device random;
  const std::string name = "gtest_fork_env throwaway test CA " + std::to_string(getpid()) + "-" +
                           std::to_string(random());
  std::string error = Issue(ssl, name, Identity{},
                            {{"basicConstraints", "critical,CA:TRUE,pathlen:0"},
                             {"keyUsage", "critical,keyCertSign,cRLSign"},
                             {"subjectKeyIdentifier", "hash"}},
                            ca);
  if (error.empty()) error = WriteFile(files.ca_cert(), Pem(ssl, ca->cert, nullptr), 0644);
  return error;
}

// The material of this process (EnsureTlsMaterial).
struct State {
  TlsFiles files;
  Identity ca;
  std::vector<std::string> hosts;  // covered by server.pem
  bool server_cert = false;
  bool client_cert = false;
  pid_t owner = -1;
};

State& TheState() {
  static auto* state = new State;  // never destroyed: used by an atexit handler
  return *state;
}

void RemoveAtExit() {
  State& state = TheState();
  // A forked copy (a fast death-test child calling exit()) leaves it alone.
  if (state.owner == getpid() && !state.files.dir.empty()) RemoveTlsDirectory(state.files.dir);
}

// Makes the private directory, and arranges that it goes when this process
// ends in any way.
std::string MakeDirectory(State& state) {
  const std::string base = TempDir();  // test_runner.h
  std::string pattern = base + "/gtest_fork_env-tls-XXXXXX";
  if (!mkdtemp(pattern.data())) {  // mode 0700
    return "cannot make a private directory in " + base + ": " +
           LastError().message();
  }
  state.files.dir = pattern;
  state.owner = getpid();
  std::atexit(RemoveAtExit);
  if (auto error = WatchdogRemovesDirectory(pattern)) {
    return "cannot ask the watchdog to remove " + pattern + ": " + error.message();
  }
  return "";
}

bool Covers(const std::vector<std::string>& covered, const std::vector<std::string>& hosts) {
  return std::all_of(hosts.begin(), hosts.end(), [&](const std::string& host) {
    return std::find(covered.begin(), covered.end(), host) != covered.end();
  });
}

}  // namespace

std::string MakeTlsMaterial(const std::string& dir, const std::vector<std::string>& hosts,
                            bool client_cert) {
  std::string error;
  const OpenSsl* ssl = LoadOpenSsl(&error);
  if (!ssl) return error;
  TlsFiles files{dir};
  Identity ca;
  error = MakeAuthority(*ssl, files, &ca);
  if (error.empty()) error = WriteLeaf(*ssl, ca, files, "server", SubjectAltNames(hosts));
  if (error.empty() && client_cert) error = WriteLeaf(*ssl, ca, files, "client", "");
  Free(*ssl, ca);
  return error;
}

std::string EnsureTlsMaterial(const std::vector<std::string>& hosts, bool client_cert,
                              TlsFiles* files) {
  State& state = TheState();
  if (state.owner == getpid() && state.server_cert && Covers(state.hosts, hosts) &&
      (state.client_cert || !client_cert)) {
    *files = state.files;
    return "";
  }
  std::string error;
  const OpenSsl* ssl = LoadOpenSsl(&error);
  if (!ssl) return error;
  if (state.owner != getpid()) {
    state = State{};
    error = MakeDirectory(state);
    if (error.empty()) error = MakeAuthority(*ssl, state.files, &state.ca);
    if (!error.empty()) {
      if (!state.files.dir.empty()) RemoveTlsDirectory(state.files.dir);
      state.owner = -1;  // the next call starts again
      return error;
    }
  }
  if (!state.server_cert || !Covers(state.hosts, hosts)) {
    std::vector<std::string> wanted = state.hosts;
    for (const std::string& host : hosts) {
      if (!Covers(wanted, {host})) wanted.push_back(host);
    }
    if (!(error = WriteLeaf(*ssl, state.ca, state.files, "server", SubjectAltNames(wanted))).empty()) {
      return error;
    }
    state.hosts = wanted;
    state.server_cert = true;
  }
  if (client_cert && !state.client_cert) {
    if (!(error = WriteLeaf(*ssl, state.ca, state.files, "client", "")).empty()) return error;
    state.client_cert = true;
  }
  *files = state.files;
  return "";
}

void RemoveTlsDirectory(const std::string& dir) noexcept {
  if (DIR* listing = opendir(dir.c_str())) {
    while (struct dirent* entry = readdir(listing)) {
      if (entry->d_name[0] == '.') continue;
      unlinkat(dirfd(listing), entry->d_name, 0);
    }
    closedir(listing);
  }
  rmdir(dir.c_str());
}

}  // namespace gtest_fork_env::detail
