#include "sample_server/serve.h"

#include <spdlog/cfg/env.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>

#include "gtest_fork_env/httplib_server.h"
#include "http_api.h"
#include "store.h"

namespace sample_server {
namespace {

// Made in the server process, after the fork: a logger inherited across a
// fork can hold locks that no thread will ever release.
std::shared_ptr<spdlog::logger> MakeLogger() {
  auto logger = std::make_shared<spdlog::logger>(
      "sample_server", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  // SPDLOG_LEVEL as everywhere in spdlog: "debug", "warn,sample_server=info"...
  spdlog::cfg::load_env_levels();
  spdlog::drop(logger->name());
  spdlog::initialize_logger(logger);  // takes that level, and the default pattern
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e [%l] %v");
  return logger;
}

std::unique_ptr<Store> OpenStore(const Config& config, spdlog::logger& logger) {
  if (config.data_file.empty()) {
    logger.info("no data file: the store lives in memory only");
    return std::make_unique<Store>();
  }
  DataLog::Replay replay;
  std::string error;
  auto store = Store::Open(config.data_file, config.fsync, &replay, &error);
  if (!store) {
    logger.critical("{}", error);
    return nullptr;
  }
  if (!replay.damage.empty()) {
    logger.warn(
        "data file {}: damaged tail cut off: {} at offset {}; {} bytes removed, the {} records "
        "before it kept",
        config.data_file, replay.damage, replay.cut_offset, replay.cut_bytes, replay.records);
  }
  logger.info("data file {}: replayed {} records into {} keys ({} bytes); every write {}",
              config.data_file, replay.records, store->size(), replay.kept_bytes,
              config.fsync ? "is flushed to disk (fdatasync) before its reply"
                           : "reaches the file before its reply");
  return store;
}

}  // namespace

int Serve(gtest_fork_env::ServerContext& context, const Config& config) {
  auto logger = MakeLogger();
  const bool own_cert = !config.tls_cert.empty() || !config.tls_key.empty();
  const std::string cert = own_cert ? config.tls_cert : context.tls_cert_path();
  const std::string key = own_cert ? config.tls_key : context.tls_key_path();
  // Declared before the server, so that it goes after the server stopped.
  std::unique_ptr<Store> store;
  std::unique_ptr<httplib::Server> server;
  if (cert.empty()) {
    server = std::make_unique<httplib::Server>();
  } else {
    server = std::make_unique<httplib::SSLServer>(cert.c_str(), key.c_str());
  }
  logger->info("server '{}' starting on {}:{} over {} (max value {} bytes, {} threads)",
               context.name(), context.host(), context.port(),
               cert.empty() ? "HTTP" : "HTTPS with " + cert, config.max_value_bytes,
               config.threads);
  // The store opens after the checkpoint: under Scope::kTest each test's
  // clone opens its own data file, in its own data directory.
  const int code = gtest_fork_env::ServeHttplib(*server, context, [&] {
    Config resolved = config;
    resolved.data_file = DataFilePath(config.data_file, context.data_dir());
    store = OpenStore(resolved, *logger);
    if (!store) return 2;
    InstallHttpApi(*server, *store, resolved, logger);
    return 0;
  });
  logger->info("stopped with exit code {}", code);
  return code;
}

std::string DataFilePath(const std::string& data_file, const std::string& data_dir) {
  if (data_file.empty() || data_file[0] == '/' || data_dir.empty()) return data_file;
  return data_dir + "/" + data_file;
}

}  // namespace sample_server
