// libFuzzer target: the sample server's request handling, from raw bytes.
//
// Each input is what one client sends on one connection. It goes through the
// real httplib::Server (Debian's libcpp-httplib 0.11.4) with the sample's
// routes, checks and error handler installed by InstallHttpApi, and a Store
// backed by a data file, but without sockets: Server::process_request is
// protected, so a subclass makes it callable with a Stream that reads the
// input from memory and collects the replies (a loopback server would work
// too, but each input would cost a connection and a read deadline, and the
// outcome would depend on timing). The input is served the way
// httplib serves a kept-alive connection: request after request until the
// server closes the connection (a rejected request with an unread body), the
// bytes run out, or 16 requests.
//
// Besides crashes and sanitizer reports, every reply is checked against the
// store the server writes to (a logic oracle):
//   - no 5xx, no 206 (Range is ignored); every error (4xx) is the JSON
//     {"error", "detail"} body;
//   - a request changes at most the key it names, and only a 200/201 PUT or a
//     204 DELETE changes anything; 201 only for a new key, 204 only for an
//     existing one, 404 only for a missing one; a 2xx only for a valid key;
//   - a 2xx PUT had well-formed framing as sent (one decimal Content-Length
//     or chunked; no NUL in any header) and, with a plain Content-Length
//     body, stored exactly those bytes;
//   - a GET returns the stored bytes, HEAD their size, a listing the stored
//     keys with that prefix, in order, up to the limit;
//   - after the input: GET of every stored key through the server returns
//     what is stored, and replaying the data file rebuilds the same store with
//     nothing cut off.
// A violation prints what was wrong and aborts, so libFuzzer keeps the input.
//
// What this does not cover: httplib's accept loop, keep-alive waits and
// socket timeouts (the hostile-input tests do, over loopback), and httplib's
// own parser is a shared library without coverage instrumentation, so the
// fuzzer is guided by the sample's code (http_api.cc, store.cc, data_log.cc)
// and only observes httplib through what reaches it.

#include <fcntl.h>
#include <httplib.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/null_sink.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "http_api.h"
#include "key.h"
#include "sample_server/serve.h"
#include "store.h"
#include "support/http_reply.h"

namespace {

using Json = nlohmann::json;
using Snapshot = std::map<std::string, std::shared_ptr<const std::string>>;

constexpr size_t kMaxValueBytes = 1000;  // small, so the fuzzer reaches 413
constexpr int kMaxRequestsPerInput = 16;
constexpr std::string_view kKeyPrefix = "/v1/kv/";

// process_request is protected in httplib 0.11.4; this makes it reachable.
class FuzzServer : public httplib::Server {
 public:
  // httplib takes a server without a listening socket for one that is
  // stopping, and then skips content providers (the sample's replies that
  // close the connection). Any open descriptor will do: this server never
  // listens, and never closes it (only stop() would).
  explicit FuzzServer(int fake_listening_socket) { svr_sock_ = fake_listening_socket; }
  using httplib::Server::process_request;
};

int FakeListeningSocket() {
  static const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  return fd;
}

// One connection: reads the input, collects what the server writes.
class MemoryStream : public httplib::Stream {
 public:
  explicit MemoryStream(std::string_view input) : input_(input) {}

  bool is_readable() const override { return offset_ < input_.size(); }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    const size_t n = std::min(size, input_.size() - offset_);
    std::memcpy(ptr, input_.data() + offset_, n);
    offset_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    output_.append(ptr, size);
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 40000;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 8080;
  }
  socket_t socket() const override { return INVALID_SOCKET; }

  size_t offset() const { return offset_; }
  bool exhausted() const { return offset_ >= input_.size(); }
  std::string TakeOutput() { return std::exchange(output_, {}); }

 private:
  std::string_view input_;
  size_t offset_ = 0;
  std::string output_;
};

// What the server saw of one request (through process_request's
// setup_request hook, which runs after the headers are parsed).
struct Seen {
  bool parsed = false;
  std::string method;
  std::string path;
  httplib::Headers headers;
  httplib::Params params;
  size_t body_start = 0;  // offset in the input where the body begins
};

using Reply = test_support::HttpReply;

std::string Shown(std::string_view text, size_t limit = 200) {
  std::string out;
  for (unsigned char c : text.substr(0, limit)) {
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return text.size() > limit ? out + "..." : out;
}

[[noreturn]] void Fail(const std::string& what, const Seen& seen, const std::string& output) {
  std::fprintf(stderr, "\nrequest_fuzzer: CONTRACT VIOLATED: %s\n  request: %s %s\n  reply: %s\n",
               what.c_str(), Shown(seen.method).c_str(), Shown(seen.path).c_str(),
               Shown(output, 600).c_str());
  std::abort();
}

// Parses what one process_request call wrote: interim 100 Continue replies,
// then exactly one final reply. nullopt when it is not that.
std::optional<Reply> ParseReply(std::string_view output, bool head) {
  for (;;) {
    const size_t end = output.find("\r\n\r\n");
    if (end == std::string_view::npos) return std::nullopt;
    std::optional<Reply> parsed = test_support::ParseReplyHead(output.substr(0, end + 2));
    if (!parsed) return std::nullopt;
    Reply reply = std::move(*parsed);
    output.remove_prefix(end + 4);
    if (reply.status == 100) continue;
    const std::string length = reply.header("Content-Length");
    if (head || reply.status == 204 || reply.status == 304) {
      if (!output.empty()) return std::nullopt;
    } else if (!length.empty()) {
      if (std::to_string(output.size()) != length) return std::nullopt;
      reply.body = std::string(output);
    } else {
      reply.body = std::string(output);
    }
    return reply;
  }
}

bool IsJsonError(const std::string& body) {
  Json json = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  return json.is_object() && json.size() == 2 && json.contains("error") &&
         json["error"].is_string() && json.contains("detail") && json["detail"].is_string() &&
         !json["detail"].get<std::string>().empty();
}

Snapshot Take(const sample_server::Store& store) {
  Snapshot snapshot;
  for (const std::string& key : store.List("", SIZE_MAX)) snapshot[key] = store.Get(key);
  return snapshot;
}

std::shared_ptr<const std::string> Find(const Snapshot& snapshot, const std::string& key) {
  auto it = snapshot.find(key);
  return it == snapshot.end() ? nullptr : it->second;
}

// The request's body as it was sent, when it is a plain Content-Length body
// that the server stores as is.
std::optional<std::string> PlainBody(const Seen& seen, std::string_view input) {
  if (seen.headers.count("Content-Length") != 1 || seen.headers.count("Transfer-Encoding") ||
      seen.headers.count("Expect")) {
    return std::nullopt;
  }
  auto coding = seen.headers.find("Content-Encoding");
  if (coding != seen.headers.end() && coding->second != "identity") return std::nullopt;
  const std::string& text = seen.headers.find("Content-Length")->second;
  if (text.empty() || text.size() > 9 ||
      text.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  const size_t length = std::stoul(text);
  if (seen.body_start + length > input.size()) return std::nullopt;
  return std::string(input.substr(seen.body_start, length));
}

void CheckList(const Seen& seen, const Reply& reply, const Snapshot& before,
               const std::string& output) {
  Json json = Json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
  if (!json.is_array()) Fail("a listing that is not a JSON array", seen, output);
  std::string prefix;
  size_t limit = 1000;
  if (auto it = seen.params.find("prefix"); it != seen.params.end()) prefix = it->second;
  if (auto it = seen.params.find("limit"); it != seen.params.end()) limit = std::stoul(it->second);
  size_t expected = 0;
  for (const auto& entry : before) expected += entry.first.rfind(prefix, 0) == 0;
  expected = std::min(expected, limit);
  if (json.size() != expected) Fail("a listing of the wrong size", seen, output);
  std::string previous;
  for (const Json& key : json) {
    if (!key.is_string()) Fail("a listing with a non-string", seen, output);
    const std::string text = key.get<std::string>();
    if (!before.count(text)) Fail("a listing with a key that is not stored", seen, output);
    if (text.rfind(prefix, 0) != 0) Fail("a listing with a key outside the prefix", seen, output);
    if (!previous.empty() && !(previous < text)) Fail("a listing out of order", seen, output);
    previous = text;
  }
}

void CheckReply(const Seen& seen, const std::string& output, std::string_view input,
                const Snapshot& before, const Snapshot& after) {
  const bool head = seen.method == "HEAD";
  std::optional<Reply> parsed = ParseReply(output, head);
  if (!parsed) Fail("not exactly one well-formed reply", seen, output);
  const Reply& reply = *parsed;
  const int status = reply.status;
  if (status < 200 || status >= 500) Fail("status " + std::to_string(status), seen, output);
  if (status == 206) Fail("a partial reply: the service ignores Range", seen, output);
  const bool encoded = !reply.header("Content-Encoding").empty();  // Accept-Encoding: gzip, br
  if (status >= 400 && !head && !encoded &&
      (reply.header("Content-Type") != "application/json" || !IsJsonError(reply.body))) {
    Fail("an error without the JSON error body", seen, output);
  }

  // A NUL in a header is refused (httplib's get_header_value stops at it).
  for (const auto& [name, value] : seen.headers) {
    if (status < 300 &&
        (name.find('\0') != std::string::npos || value.find('\0') != std::string::npos)) {
      Fail("a 2xx for a request with a NUL in a header", seen, output);
    }
  }

  const bool key_route = seen.path.compare(0, kKeyPrefix.size(), kKeyPrefix) == 0;
  const std::string key = key_route ? seen.path.substr(kKeyPrefix.size()) : std::string();
  // Only the named key may change, and only through a successful PUT or DELETE.
  for (const auto& [name, value] : before) {
    if (Find(after, name) != value && name != key) Fail("another key changed", seen, output);
  }
  for (const auto& [name, value] : after) {
    if (!before.count(name) && name != key) Fail("another key appeared", seen, output);
  }
  const auto old_value = Find(before, key);
  const auto new_value = Find(after, key);
  const bool changed = key_route && old_value != new_value;
  const bool put_ok = seen.method == "PUT" && (status == 200 || status == 201);
  const bool delete_ok = seen.method == "DELETE" && status == 204;
  if (changed && !put_ok && !delete_ok) Fail("the store changed without a 2xx write", seen, output);
  if (!key_route) {
    if (seen.path == "/v1/kv" && seen.method == "GET" && status == 200 && !encoded) {
      CheckList(seen, reply, before, output);
    }
    return;
  }
  if (status < 300 && !sample_server::IsValidKey(key)) Fail("a 2xx for a bad key", seen, output);
  if (put_ok) {
    if (!new_value) Fail("a 2xx PUT stored nothing", seen, output);
    // The framing the value was read with is the framing that was sent.
    auto length = seen.headers.find("Content-Length");
    if (length != seen.headers.end() &&
        (length->second.empty() ||
         length->second.find_first_not_of("0123456789") != std::string::npos)) {
      Fail("a 2xx PUT with a malformed Content-Length", seen, output);
    }
    if (seen.headers.count("Content-Length") + seen.headers.count("Transfer-Encoding") != 1) {
      Fail("a 2xx PUT without exactly one of Content-Length and Transfer-Encoding", seen, output);
    }
    if ((status == 201) != (old_value == nullptr)) Fail("201 and 200 mixed up", seen, output);
    if (auto body = PlainBody(seen, input); body && *body != *new_value) {
      Fail("a 2xx PUT stored other bytes than were sent", seen, output);
    }
  }
  if (delete_ok && (!old_value || new_value)) {
    Fail("a 204 DELETE that did not delete", seen, output);
  }
  if (status == 404 && sample_server::IsValidKey(key) &&
      (seen.method == "GET" || seen.method == "HEAD" || seen.method == "DELETE") && old_value) {
    Fail("404 for a stored key", seen, output);
  }
  if (status == 200 && seen.method == "GET" && (!old_value || reply.body != *old_value)) {
    Fail("a GET that did not return the stored bytes", seen, output);
  }
  if (status == 200 && head &&
      (!old_value || reply.header("Content-Length") != std::to_string(old_value->size()))) {
    Fail("a HEAD with the wrong size", seen, output);
  }
}

// Sends one well-formed GET through the server and returns its reply.
std::optional<Reply> Get(FuzzServer& server, const std::string& target) {
  const std::string request = "GET " + target + " HTTP/1.1\r\nHost: fuzz\r\n\r\n";
  MemoryStream stream(request);
  bool closed = false;
  server.process_request(stream, /*close_connection=*/true, closed, nullptr);
  return ParseReply(stream.TakeOutput(), /*head=*/false);
}

std::shared_ptr<spdlog::logger> Logger() {
  static auto logger = std::make_shared<spdlog::logger>(
      "sample_server", std::make_shared<spdlog::sinks::null_sink_mt>());
  return logger;
}

std::string g_directory;
std::string g_data_file;

void RemoveDataFile() {
  unlink(g_data_file.c_str());
  rmdir(g_directory.c_str());
}

std::unique_ptr<sample_server::Store> OpenStore(sample_server::DataLog::Replay* replay) {
  std::string error;
  auto store = sample_server::Store::Open(g_data_file, /*fsync=*/false, replay, &error);
  if (!store) {
    std::fprintf(stderr, "request_fuzzer: %s\n", error.c_str());
    std::abort();
  }
  return store;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/request_fuzzer.XXXXXX";
  if (!mkdtemp(pattern.data())) {
    std::perror("request_fuzzer: mkdtemp");
    std::abort();
  }
  g_directory = pattern;
  g_data_file = g_directory + "/kv.log";
  std::atexit(RemoveDataFile);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  unlink(g_data_file.c_str());  // every input starts from an empty store
  sample_server::DataLog::Replay replay;
  auto store = OpenStore(&replay);
  Snapshot final_state;
  {
    FuzzServer server(FakeListeningSocket());
    sample_server::Config config;
    config.max_value_bytes = kMaxValueBytes;
    sample_server::InstallHttpApi(server, *store, config, Logger());

    MemoryStream stream(input);
    for (int i = 0; i < kMaxRequestsPerInput && !stream.exhausted(); ++i) {
      Seen seen;
      const Snapshot before = Take(*store);
      bool connection_closed = false;
      const bool keep_going =
          server.process_request(stream, /*close_connection=*/i + 1 == kMaxRequestsPerInput,
                                 connection_closed, [&](httplib::Request& req) {
                                   seen.parsed = true;
                                   seen.method = req.method;
                                   seen.path = req.path;
                                   seen.headers = req.headers;
                                   seen.params = req.params;
                                   seen.body_start = stream.offset();
                                 });
      const std::string output = stream.TakeOutput();
      const Snapshot after = Take(*store);
      if (seen.parsed) {
        CheckReply(seen, output, input, before, after);
      } else {
        // Not even a request line and headers: an error reply, or nothing
        // when the bytes ran out; either way the store is untouched.
        if (before != after) Fail("an unparsed request changed the store", seen, output);
        if (!output.empty()) {
          // When httplib got the method HEAD out of a request line it then
          // rejects (" HEAD", "\tHEAD x"...), it sends the headers alone.
          auto reply = ParseReply(output, /*head=*/false);
          const bool head = !reply;
          if (head) reply = ParseReply(output, /*head=*/true);
          if (!reply || reply->status < 400 || reply->status >= 500 ||
              reply->header("Content-Type") != "application/json" ||
              (!head && !IsJsonError(reply->body))) {
            Fail("an unparsed request without a 4xx JSON error", seen, output);
          }
        }
      }
      if (!keep_going || connection_closed) break;
    }

    // What is stored is what the server serves.
    final_state = Take(*store);
    for (const auto& [key, value] : final_state) {
      auto reply = Get(server, std::string(kKeyPrefix) + key);
      if (!reply || reply->status != 200 || reply->body != *value) {
        Fail("a stored value that GET does not return", Seen{}, key);
      }
    }
  }
  store.reset();  // closes the data file

  // A replay rebuilds exactly what was acknowledged.
  auto replayed = OpenStore(&replay);
  if (replay.cut_bytes != 0 || Take(*replayed).size() != final_state.size()) {
    Fail("the data file does not replay to the store: " + replay.damage, Seen{}, "");
  }
  const Snapshot again = Take(*replayed);
  for (const auto& [key, value] : final_state) {
    auto it = again.find(key);
    if (it == again.end() || *it->second != *value) {
      Fail("the data file replays another value for a key", Seen{}, key);
    }
  }
  return 0;
}
