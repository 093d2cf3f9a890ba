#include "http_api.h"

#include <gtest_fork_env/httplib_worker_pool.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "key.h"

namespace sample_server {
namespace {

using httplib::Request;
using httplib::Response;
using httplib::Server;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// [\s\S]* and not .*: a percent-decoded path may hold a newline, and every
// key, however bad, must reach the handler to get a 400 rather than a 404.
constexpr const char* kKeyRoute = R"(/v1/kv/([\s\S]*))";
constexpr size_t kDefaultListLimit = 1000;
constexpr size_t kMaxListLimit = 10000;

// The methods a path allows; "" when no route has that path.
std::string AllowedMethods(const std::string& path) {
  if (path == "/healthz" || path == "/v1/kv") return "GET, HEAD";
  if (path.rfind("/v1/kv/", 0) == 0) return "GET, HEAD, PUT, DELETE";
  return "";
}

// Client input shown in a log line or an error detail: bounded, and with
// anything but printable ASCII escaped, so no client can forge log lines.
std::string Printable(std::string_view text, size_t limit = 64) {
  std::string out;
  for (unsigned char c : text.substr(0, limit)) {
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out += static_cast<char>(c);
    } else {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  if (text.size() > limit) out += "...";
  return out;
}

std::string ErrorBody(std::string_view error, const std::string& detail) {
  Json body = {{"error", error}, {"detail", detail}};
  return body.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void SetError(Response& res, int status, std::string_view error, const std::string& detail) {
  res.status = status;
  res.set_content(ErrorBody(error, detail), "application/json");
}

// For a request whose body was not read to its end: the rest of it cannot be
// told apart from a next request, so the connection must close after the
// reply. httplib 0.11 closes a connection only when writing a response
// fails, so the body goes out through a content provider that writes all of
// it and then reports failure.
void SetErrorAndClose(Response& res, int status, std::string_view error,
                      const std::string& detail) {
  res.status = status;
  auto body = std::make_shared<std::string>(ErrorBody(error, detail));
  res.set_header("Connection", "close");
  res.set_content_provider(body->size(), "application/json",
                           [body](size_t offset, size_t length, httplib::DataSink& sink) {
                             sink.write(body->data() + offset, length);
                             return false;
                           });
}

// 405, with the Allow header that RFC 9110 asks for.
void SetMethodNotAllowed(const Request& req, Response& res, const std::string& allowed,
                         bool close) {
  const std::string detail = Printable(req.method) + " is not allowed here; allowed: " + allowed;
  if (close) {
    SetErrorAndClose(res, 405, "method_not_allowed", detail);
  } else {
    SetError(res, 405, "method_not_allowed", detail);
  }
  res.set_header("Allow", allowed);
}

bool CheckKey(const std::string& key, Response& res) {
  if (IsValidKey(key)) return true;
  std::string detail =
      key.empty() ? "the key is empty"
      : IsDotSegment(key)
          ? "the key \"" + key + "\" is a dot segment, which clients remove from URLs"
      : key.size() > kMaxKeyBytes
          ? "the key is " + std::to_string(key.size()) + " bytes long; the limit is " +
                std::to_string(kMaxKeyBytes)
          : "the key \"" + Printable(key) + "\" has a character outside [A-Za-z0-9._~-]";
  SetError(res, 400, "bad_key", detail);
  return false;
}

bool IsDecimal(std::string_view text, size_t max_digits) {
  if (text.empty() || text.size() > max_digits) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// The checks httplib 0.11 leaves out, made before any body is read. Every
// rejection closes the connection: the framing of what follows is unknown.
bool CheckFraming(const Request& req, Response& res) {
  // httplib keeps a NUL inside a header, but get_header_value() returns the
  // value up to it, so "Content-Length: 1\0 99" would pass for 1. RFC 9110
  // says to reject such a field (or replace the NUL): reject it.
  for (const auto& [name, value] : req.headers) {
    if (name.find('\0') != std::string::npos || value.find('\0') != std::string::npos) {
      SetErrorAndClose(res, 400, "bad_request",
                       "the header \"" + Printable(name) + "\" holds a NUL byte");
      return false;
    }
  }
  if (req.version == "HTTP/1.1" && req.get_header_value_count("Host") != 1) {
    SetErrorAndClose(res, 400, "bad_request", "an HTTP/1.1 request needs exactly one Host header");
    return false;
  }
  const size_t lengths = req.get_header_value_count("Content-Length");
  if (lengths > 1 || (lengths == 1 && !IsDecimal(req.get_header_value("Content-Length"), 18))) {
    SetErrorAndClose(res, 400, "bad_request", "malformed Content-Length");
    return false;
  }
  const bool chunked = req.has_header("Transfer-Encoding");
  if (chunked && (req.get_header_value_count("Transfer-Encoding") != 1 ||
                  req.get_header_value("Transfer-Encoding") != "chunked")) {
    SetErrorAndClose(res, 400, "bad_request", "the only Transfer-Encoding supported is chunked");
    return false;
  }
  if (chunked && lengths == 1) {
    SetErrorAndClose(res, 400, "bad_request", "both Content-Length and Transfer-Encoding");
    return false;
  }
  // httplib decodes these and passes any other coding through undecoded.
  if (req.has_header("Content-Encoding")) {
    const std::string coding = req.get_header_value("Content-Encoding");
    if (req.get_header_value_count("Content-Encoding") != 1 ||
        (coding != "gzip" && coding != "deflate" && coding != "br" && coding != "identity")) {
      SetErrorAndClose(res, 415, "unsupported_media_type",
                       "unsupported Content-Encoding \"" + Printable(coding) +
                           "\"; supported: gzip, deflate, br, identity");
      return false;
    }
  }
  // httplib reads the body of these methods even without a length, until the
  // client closes; answer before it does.
  const bool has_body_method =
      req.method == "PUT" || req.method == "POST" || req.method == "PATCH" || req.method == "PRI";
  if (has_body_method && lengths == 0 && !chunked) {
    const std::string allowed = AllowedMethods(req.path);
    if (allowed.empty()) {
      SetErrorAndClose(res, 404, "not_found", "no such path \"" + Printable(req.path) + "\"");
    } else if (req.method != "PUT") {
      SetMethodNotAllowed(req, res, allowed, /*close=*/true);
    } else {
      SetErrorAndClose(res, 411, "length_required",
                       "a PUT needs Content-Length or chunked encoding");
    }
    return false;
  }
  if (req.method == "PUT" && req.is_multipart_form_data()) {
    SetErrorAndClose(res, 415, "unsupported_media_type",
                     "the value is the raw body; multipart/form-data is not accepted");
    return false;
  }
  return true;
}

// The service answers GET with the whole value and has no range requests.
// httplib 0.11 parses a Range header into req.ranges and applies it to any
// reply from a handler or the error handler, errors included (a 404 body cut
// to "det", a JSON error as multipart/byteranges), and a range past the end
// becomes a 416 with an empty body. RFC 9110 lets a server ignore Range, so
// the ranges are dropped before any reply is made. The Request is httplib's
// own non-const object (a local of Server::process_request), passed to the
// handlers as const; clearing it here is the only way in before the reply.
void IgnoreRanges(const Request& req) { const_cast<Request&>(req).ranges.clear(); }

// The access log measures from the 100-continue or pre-routing handler,
// whichever runs first, to the logger, which httplib calls on the same thread
// once the response is written. Requests rejected before either (malformed
// ones) have no start and log "-".
thread_local std::optional<Clock::time_point> t_request_start;

void HandleList(const Store& store, const Request& req, Response& res) {
  std::string prefix;
  size_t limit = kDefaultListLimit;
  for (const auto& [name, value] : req.params) {
    if (req.get_param_value_count(name) > 1) {
      return SetError(res, 400, "bad_query", "parameter \"" + Printable(name) + "\" is repeated");
    }
    if (name == "prefix") {
      if (!IsKeyText(value)) {
        return SetError(res, 400, "bad_query",
                        "prefix \"" + Printable(value) +
                            "\" is not made of key characters [A-Za-z0-9._~-] or is too long");
      }
      prefix = value;
    } else if (name == "limit") {
      if (!IsDecimal(value, 6) || std::stoul(value) < 1 || std::stoul(value) > kMaxListLimit) {
        return SetError(res, 400, "bad_query",
                        "limit \"" + Printable(value) + "\" is not a whole number from 1 to " +
                            std::to_string(kMaxListLimit));
      }
      limit = std::stoul(value);
    } else {
      return SetError(res, 400, "bad_query",
                      "unknown parameter \"" + Printable(name) + "\"; known: prefix, limit");
    }
  }
  res.set_content(Json(store.List(prefix, limit)).dump(), "application/json");
}

void HandlePut(Store& store, size_t max_value_bytes, const Request& req, Response& res,
               const httplib::ContentReader& read_body) {
  // The body is read before the key is checked, so that a rejected PUT
  // leaves the connection ready for the next request.
  std::string value;
  bool too_large = false;
  const bool whole = read_body([&](const char* data, size_t size) {
    if (size > max_value_bytes - value.size()) {
      too_large = true;
      return false;
    }
    value.append(data, size);
    return true;
  });
  if (!whole) {
    const std::string limit = "the limit is " + std::to_string(max_value_bytes) + " bytes";
    if (too_large) {  // chunked or compressed: the rest of the body is still unread
      return SetErrorAndClose(res, 413, "value_too_large", "the value is too large; " + limit);
    }
    if (res.status == 413) {  // httplib read and dropped a Content-Length over the limit
      return SetError(
          res, 413, "value_too_large",
          "Content-Length " + req.get_header_value("Content-Length") + " is too large; " + limit);
    }
    return SetErrorAndClose(res, 400, "bad_request",
                            "the body is malformed or shorter than announced");
  }
  const std::string key = req.matches[1];
  if (!CheckKey(key, res)) return;
  bool created = false;
  if (auto error = store.Put(key, std::move(value), &created)) {
    return SetError(res, 503, "unavailable", "cannot write the data file: " + error.message());
  }
  res.status = created ? 201 : 200;
  if (created) res.set_header("Location", "/v1/kv/" + key);
}

}  // namespace

void InstallHttpApi(Server& server, Store& store, const Config& config,
                    std::shared_ptr<spdlog::logger> logger) {
  const size_t max_value_bytes = config.max_value_bytes;

  // An idle keep-alive connection holds Server::stop() for this long in
  // httplib 0.11, so a short one keeps SIGTERM fast. Nagle's algorithm would
  // add ~40 ms to small replies on a kept-alive connection.
  server.set_keep_alive_timeout(1);
  // Many requests per connection: fewer reconnects into httplib's listen
  // backlog of 5.
  server.set_keep_alive_max_count(1000);
  // No set_tcp_nodelay() here: this runs after the bind, too late for an
  // option of the listening socket; ServeHttplib gives it TCP_NODELAY.
  server.set_read_timeout(5, 0);
  server.set_write_timeout(5, 0);
  // httplib reads and discards a Content-Length body over this, then 413.
  server.set_payload_max_length(max_value_bytes);
  // Up to `threads` workers, each made when a connection finds none idle: a
  // clone of a test template then starts one for its test, not sixteen.
  const size_t threads = config.threads;
  server.new_task_queue = [threads] { return new gtest_fork_env::OnDemandWorkerPool(threads); };

  server.set_pre_routing_handler([](const Request& req, Response& res) {
    if (!t_request_start) t_request_start = Clock::now();
    IgnoreRanges(req);
    return CheckFraming(req, res) ? Server::HandlerResponse::Unhandled
                                  : Server::HandlerResponse::Handled;
  });

  // curl sends "Expect: 100-continue" before a large body: refuse a value
  // that is too large before it is sent.
  server.set_expect_100_continue_handler([max_value_bytes](const Request& req, Response& res) {
    t_request_start = Clock::now();
    IgnoreRanges(req);  // this runs before the pre-routing handler
    const std::string length = req.get_header_value("Content-Length");
    if (req.method == "PUT" && IsDecimal(length, 18) && std::stoull(length) > max_value_bytes) {
      SetErrorAndClose(res, 413, "value_too_large",
                       "Content-Length " + length + " is too large; the limit is " +
                           std::to_string(max_value_bytes) + " bytes");
      return 413;
    }
    return 100;
  });

  server.Get("/healthz",
             [](const Request&, Response& res) { res.set_content("ok", "text/plain"); });

  server.Get("/v1/kv",
             [&store](const Request& req, Response& res) { HandleList(store, req, res); });

  server.Get(kKeyRoute, [&store](const Request& req, Response& res) {
    const std::string key = req.matches[1];
    if (!CheckKey(key, res)) return;
    auto value = store.Get(key);
    if (!value) return SetError(res, 404, "not_found", "no value under key \"" + key + "\"");
    res.set_content(*value, "application/octet-stream");
  });

  server.Put(kKeyRoute, [&store, max_value_bytes](const Request& req, Response& res,
                                                  const httplib::ContentReader& read_body) {
    HandlePut(store, max_value_bytes, req, res, read_body);
  });

  server.Delete(kKeyRoute, [&store](const Request& req, Response& res) {
    const std::string key = req.matches[1];
    if (!CheckKey(key, res)) return;
    bool existed = false;
    if (auto error = store.Delete(key, &existed)) {
      return SetError(res, 503, "unavailable", "cannot write the data file: " + error.message());
    }
    if (!existed) return SetError(res, 404, "not_found", "no value under key \"" + key + "\"");
    res.status = 204;
  });

  // Runs for every response with a status of 400 or more, ours included
  // (those already have a body and are left alone). httplib answers a method
  // that has no route with 404, or 400 for the methods it has no handler
  // table for; on a path we serve, that is a 405.
  server.set_error_handler([max_value_bytes](const Request& req, Response& res) {
    if (res.has_header("Content-Type")) return;
    const std::string allowed = AllowedMethods(req.path);
    const bool unrouted_method =
        req.method == "TRACE" || req.method == "CONNECT" || req.method == "PRI";
    if (!allowed.empty() && (res.status == 404 || (res.status == 400 && unrouted_method))) {
      return SetMethodNotAllowed(req, res, allowed, /*close=*/false);
    }
    switch (res.status) {
      case 404:
        return SetError(res, 404, "not_found", "no such path \"" + Printable(req.path) + "\"");
      case 413:
        return SetError(
            res, 413, "too_large",
            "the body is over the limit of " + std::to_string(max_value_bytes) + " bytes");
      case 414:
        return SetErrorAndClose(res, 414, "uri_too_long", "the request line is too long");
      case 400:
        return SetErrorAndClose(res, 400, "bad_request", "malformed HTTP request");
      default:
        return SetErrorAndClose(res, res.status, "error",
                                "the request failed with status " + std::to_string(res.status));
    }
  });

  server.set_exception_handler(
      [logger](const Request& req, Response& res, std::exception_ptr error) {
        std::string what = "an exception that is not a std::exception";
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        logger->error("{} {} failed: {}", Printable(req.method), Printable(req.target, 512), what);
        SetErrorAndClose(res, 500, "internal", "the server failed to handle the request");
      });

  // One line per request: method, target, status, response bytes, time.
  server.set_logger([logger](const Request& req, const Response& res) {
    std::string elapsed = "-";
    if (t_request_start) {
      auto us =
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - *t_request_start);
      elapsed = std::to_string(us.count()) + "us";
      t_request_start.reset();
    }
    std::string bytes = res.get_header_value("Content-Length");
    logger->info("{} {} {} {} {}", req.method.empty() ? "-" : Printable(req.method, 16),
                 req.target.empty() ? "-" : Printable(req.target, 512), res.status,
                 bytes.empty() ? "0" : bytes, elapsed);
  });
}

}  // namespace sample_server
