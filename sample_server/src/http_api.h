#pragma once

#include <httplib.h>
#include <spdlog/logger.h>

#include <memory>

#include "sample_server/serve.h"
#include "store.h"

namespace sample_server {

// Installs the service on `server`: the routes, the checks that run before
// them, JSON error replies for every failure (including httplib's own), the
// access log, and the timeouts and thread pool. `store` must outlive the
// server.
//
// Routes: GET /healthz; GET /v1/kv?prefix=P&limit=N; GET, HEAD, PUT, DELETE
// /v1/kv/{key}. Every error is a 4xx or 5xx with the body
// {"error": "<code>", "detail": "<what was wrong>"}.
void InstallHttpApi(httplib::Server& server, Store& store, const Config& config,
                    std::shared_ptr<spdlog::logger> logger);

}  // namespace sample_server
