// sample_server: the key-value service on its own, outside any test.
//
//   sample_server --host 127.0.0.1 --port 8080 --data-file kv.log
//   sample_server --tls-cert cert.pem --tls-key key.pem   (HTTPS)

#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>
#include <string>

#include "gtest_fork_env/server_context.h"
#include "gtest_fork_env/url.h"
#include "sample_server/serve.h"

int main(int argc, char** argv) {
  CLI::App app{"sample_server: a key-value store over HTTP, the sample service of gtest_fork_env."};
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  sample_server::Config config;
  app.add_option("--host", host, "Address to bind")->capture_default_str();
  app.add_option("--port", port, "Port to bind; 0 takes any free port")->capture_default_str();
  app.add_option("--data-file", config.data_file,
                 "Append-only log that keeps the data across restarts (default: memory only)");
  app.add_option("--max-value-bytes", config.max_value_bytes, "Largest value a PUT may store")
      ->capture_default_str()
      ->check(CLI::Range(size_t{0}, size_t{1} << 30));
  app.add_flag("--fsync", config.fsync,
               "fdatasync the data file before every reply (survives power loss)");
  app.add_option("--threads", config.threads, "Worker threads (one per open connection)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1024}));
  auto* cert_option = app.add_option("--tls-cert", config.tls_cert,
                                     "Serve HTTPS with this certificate (PEM; needs --tls-key)")
                          ->check(CLI::ExistingFile);
  app.add_option("--tls-key", config.tls_key, "Private key (PEM) of --tls-cert")
      ->check(CLI::ExistingFile)
      ->needs(cert_option);
  cert_option->needs("--tls-key");
  CLI11_PARSE(app, argc, argv);

  // Serve() reports the bound port through ServerContext::NotifyListening,
  // which here prints the address.
  const std::string scheme = config.tls_cert.empty() ? "http" : "https";
  gtest_fork_env::ServerContext context("sample_server", host, port, [&](uint16_t bound_port) {
    std::printf("listening on %s\n", gtest_fork_env::FormatUrl(scheme, host, bound_port).c_str());
    std::fflush(stdout);
  });
  return sample_server::Serve(context, config);
}
