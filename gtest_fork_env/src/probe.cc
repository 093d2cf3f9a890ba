#include "probe.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "openssl_api.h"
#include "unique_fd.h"

namespace gtest_fork_env::detail {
namespace {

using Clock = std::chrono::steady_clock;

int MillisecondsLeft(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// Waits for `events` on `fd` until `deadline`; false on timeout.
bool WaitFor(int fd, short events, Clock::time_point deadline) {
  struct pollfd entry = {fd, events, 0};
  int ready = RetryOnEintr([&] { return poll(&entry, 1, MillisecondsLeft(deadline)); });
  return ready > 0;
}

// A connected non-blocking socket, or an empty one with `reason` set.
UniqueFd Connect(const std::string& host, uint16_t port, Clock::time_point deadline,
                 std::string& reason) {
  struct addrinfo hints;
  std::memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  struct addrinfo* addresses = nullptr;
  std::string service = std::to_string(port);
  int resolved = getaddrinfo(host.c_str(), service.c_str(), &hints, &addresses);
  if (resolved != 0) {
    reason = std::string("cannot resolve host: ") + gai_strerror(resolved);
    return UniqueFd();
  }
  UniqueFd result;
  for (struct addrinfo* address = addresses; address && !result; address = address->ai_next) {
    UniqueFd sock(socket(address->ai_family, address->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                         address->ai_protocol));
    if (!sock) {
      reason = std::strerror(errno);
      continue;
    }
    if (connect(sock.get(), address->ai_addr, address->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        reason = std::strerror(errno);
        continue;
      }
      if (!WaitFor(sock.get(), POLLOUT, deadline)) {
        reason = "connect timed out";
        continue;
      }
      int error = 0;
      socklen_t length = sizeof error;
      getsockopt(sock.get(), SOL_SOCKET, SO_ERROR, &error, &length);
      if (error != 0) {
        reason = std::strerror(error);
        continue;
      }
    }
    result = std::move(sock);
  }
  freeaddrinfo(addresses);
  return result;
}

// What a failed TLS exchange means, in words a user can act on. `text` is
// OpenSSL's error; `verify` the certificate check's result.
void ExplainTlsFailure(const OpenSsl& ssl, long verify, const std::string& text,
                       ProbeResult& result) {
  auto has = [&](const char* part) { return text.find(part) != std::string::npos; };
  if (verify != X509_V_OK) {
    result.reason = std::string("the server's certificate failed verification against the test "
                                "CA: ") + ssl.X509_verify_cert_error_string(verify);
    result.advice = "serve the certificate and key the library made (ServerContext::"
                    "tls_cert_path() and tls_key_path(); exec mode: {tls_cert} and {tls_key}); "
                    "a certificate from anywhere else is not signed by the test CA.";
  } else if (has("wrong version number") || has("packet length too long") ||
             has("record layer failure")) {
    result.reason = "the server does not speak TLS on this port (it answered in plain HTTP or "
                    "another protocol: " + text + ")";
    result.advice = "the server has Options::tls, so it must serve HTTPS: build an "
                    "httplib::SSLServer from context.tls_cert_path() and tls_key_path() instead "
                    "of an httplib::Server (exec mode: pass {tls_cert} and {tls_key} and turn "
                    "the program's TLS on). Nothing is downgraded to plain HTTP.";
  } else if (has("certificate required") || has("handshake failure")) {
    result.reason = "the server requires a client certificate, and the probe had none (" +
                    text + ")";
    result.advice = "turn on Options::tls_client_auth: the library then makes a client "
                    "certificate, and the probes and MakeHttplibClient present it.";
  } else if (has("unknown ca") || has("bad certificate") || has("certificate unknown") ||
             has("decrypt error")) {
    result.reason = "the server refused the client certificate signed by the test CA (" + text +
                    ")";
    result.advice = "make the server verify client certificates against context.tls_ca_path() "
                    "(httplib::SSLServer's third argument; exec mode: {ca_cert}).";
  } else {
    result.reason = "TLS failed: " + text;
  }
}

// The client context for `tls`, made once and kept while the files stay the
// same: OpenSSL 3's SSL_CTX_new and loading the CA cost milliseconds, and a
// probe makes hundreds of attempts per second. nullptr with `result` set.
SSL_CTX* ClientContext(const OpenSsl& ssl, const TlsClientFiles& tls, ProbeResult& result) {
  static std::mutex mutex;
  static TlsClientFiles* cached_files = new TlsClientFiles;  // never freed, like the context
  static SSL_CTX* cached = nullptr;
  std::lock_guard<std::mutex> lock(mutex);
  if (cached && cached_files->ca_cert == tls.ca_cert &&
      cached_files->client_cert == tls.client_cert && cached_files->client_key == tls.client_key) {
    return cached;
  }
  SSL_CTX* context = ssl.SSL_CTX_new(ssl.TLS_client_method());
  if (!context || ssl.SSL_CTX_load_verify_locations(context, tls.ca_cert.c_str(), nullptr) != 1) {
    result.reason = "cannot load the CA " + tls.ca_cert + ": " + TakeOpenSslError(ssl, "?");
  } else if (!tls.client_cert.empty() &&
             (ssl.SSL_CTX_use_certificate_chain_file(context, tls.client_cert.c_str()) != 1 ||
              ssl.SSL_CTX_use_PrivateKey_file(context, tls.client_key.c_str(),
                                              SSL_FILETYPE_PEM) != 1)) {
    result.reason = "cannot load the client certificate " + tls.client_cert + ": " +
                    TakeOpenSslError(ssl, "?");
  } else {
    ssl.SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nullptr);
    if (cached) ssl.SSL_CTX_free(cached);
    cached = context;
    *cached_files = tls;
    return context;
  }
  if (context) ssl.SSL_CTX_free(context);
  return nullptr;
}

// One connection's bytes, plain or TLS; every call bounded by one deadline.
class Stream {
 public:
  Stream(int fd, Clock::time_point deadline) : fd_(fd), deadline_(deadline) {}
  ~Stream() {
    if (conn_) ssl_->SSL_free(conn_);
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Handshakes and verifies the server; false with `result` explained.
  bool StartTls(const std::string& host, const TlsClientFiles& tls, ProbeResult& result) {
    std::string error;
    ssl_ = LoadOpenSsl(&error);
    if (!ssl_) {
      result.reason = error;
      return false;
    }
    ssl_->ERR_clear_error();
    SSL_CTX* context = ClientContext(*ssl_, tls, result);
    if (!context) return false;
    conn_ = ssl_->SSL_new(context);
    if (!conn_ || ssl_->SSL_set_fd(conn_, fd_) != 1 || !ExpectName(host)) {
      result.reason = "cannot set up TLS: " + TakeOpenSslError(*ssl_, "?");
      return false;
    }
    return Pump([&] { return ssl_->SSL_connect(conn_); }, result) > 0;
  }

  bool Send(const std::string& data, ProbeResult& result) {
    size_t sent = 0;
    while (sent < data.size()) {
      long n = conn_ ? Pump([&] {
        return ssl_->SSL_write(conn_, data.data() + sent, static_cast<int>(data.size() - sent));
      }, result)
                     : SendPlain(data.data() + sent, data.size() - sent, result);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  // Bytes read (> 0), 0 at the end of the stream, -1 with `result` set.
  long Receive(char* buffer, size_t size, ProbeResult& result) {
    if (conn_) {
      return Pump([&] { return ssl_->SSL_read(conn_, buffer, static_cast<int>(size)); }, result);
    }
    for (;;) {
      ssize_t n = RetryOnEintr([&] { return recv(fd_, buffer, size, 0); });
      if (n >= 0) return n;
      if (errno != EAGAIN) {
        result.reason = std::string("recv: ") + std::strerror(errno);
        return -1;
      }
      if (!WaitFor(fd_, POLLIN, deadline_)) {
        result.reason = "timed out";
        return -1;
      }
    }
  }

  // Sends close_notify and reads until the server closes; true unless an
  // alert arrived (a refused client certificate, under TLS 1.3).
  bool CloseAndDrain(ProbeResult& result) {
    ProbeResult ignored;
    Pump([&] { return ssl_->SSL_shutdown(conn_); }, ignored);
    // A quiet server counts only after the whole quiet period: a wait that
    // the probe's own deadline cut short proves nothing.
    const auto quiet_until = Clock::now() + std::chrono::milliseconds(250);
    const bool full_quiet_period = quiet_until <= deadline_;
    deadline_ = std::min(deadline_, quiet_until);
    char buffer[256];
    for (;;) {
      long n = Receive(buffer, sizeof buffer, result);
      if (n > 0) continue;
      const bool quiet = result.reason == "timed out" && full_quiet_period;
      if (n == 0 || quiet || result.reason.find("eof") != std::string::npos ||
          result.reason.find("connection closed") != std::string::npos) {
        result.reason.clear();
        result.advice.clear();
        return true;
      }
      return false;
    }
  }

 private:
  bool ExpectName(const std::string& host) {
    X509_VERIFY_PARAM* param = ssl_->SSL_get0_param(conn_);
    unsigned char address[16];
    if (inet_pton(AF_INET, host.c_str(), address) == 1 ||
        inet_pton(AF_INET6, host.c_str(), address) == 1) {
      return ssl_->X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1;
    }
    // SNI (SSL_set_tlsext_host_name is a macro over SSL_ctrl).
    ssl_->SSL_ctrl(conn_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                   const_cast<char*>(host.c_str()));
    return ssl_->X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0) == 1;
  }

  long SendPlain(const char* data, size_t size, ProbeResult& result) {
    for (;;) {
      ssize_t n = RetryOnEintr([&] { return send(fd_, data, size, MSG_NOSIGNAL); });
      if (n >= 0) return n;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        result.reason = std::string("send: ") + std::strerror(errno);
        return -1;
      }
      if (!WaitFor(fd_, POLLOUT, deadline_)) {
        result.reason = "request not sent in time";
        return -1;
      }
    }
  }

  // Runs an OpenSSL call on the non-blocking socket until it completes,
  // waiting for the socket as OpenSSL asks; > 0 on success, 0 at a clean end
  // of the stream, -1 with `result` explained.
  template <typename Call>
  long Pump(Call call, ProbeResult& result) {
    for (;;) {
      const int n = call();
      if (n > 0) return n;
      const int code = ssl_->SSL_get_error(conn_, n);
      if (code == SSL_ERROR_ZERO_RETURN) return 0;
      const bool want_read = code == SSL_ERROR_WANT_READ;
      if ((want_read || code == SSL_ERROR_WANT_WRITE) &&
          WaitFor(fd_, want_read ? POLLIN : POLLOUT, deadline_)) {
        continue;
      }
      const int saved_errno = errno;
      const std::string text = TakeOpenSslError(*ssl_, "");
      if (want_read || code == SSL_ERROR_WANT_WRITE) {
        result.reason = "timed out";
      } else if (code == SSL_ERROR_SYSCALL && text.empty()) {
        result.reason = saved_errno != 0 ? std::string(std::strerror(saved_errno))
                                         : "connection closed";
      } else {
        ExplainTlsFailure(*ssl_, ssl_->SSL_get_verify_result(conn_),
                          text.empty() ? "error " + std::to_string(code) : text, result);
      }
      return -1;
    }
  }

  SigpipeBlocker no_sigpipe_;
  int fd_;
  Clock::time_point deadline_;
  const OpenSsl* ssl_ = nullptr;
  SSL* conn_ = nullptr;
};

}  // namespace

ProbeResult TcpConnectOnce(const std::string& host, uint16_t port,
                           std::chrono::milliseconds timeout) {
  ProbeResult result;
  UniqueFd sock = Connect(host, port, Clock::now() + timeout, result.reason);
  result.ok = static_cast<bool>(sock);
  return result;
}

ProbeResult HttpGetOnce(const std::string& host, uint16_t port, const std::string& path,
                        int min_status, int max_status, std::chrono::milliseconds timeout,
                        const TlsClientFiles& tls) {
  ProbeResult result;
  const auto deadline = Clock::now() + timeout;
  UniqueFd sock = Connect(host, port, deadline, result.reason);
  if (!sock) return result;
  Stream stream(sock.get(), deadline);
  if (!tls.ca_cert.empty() && !stream.StartTls(host, tls, result)) return result;

  std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + host + ":" +
                        std::to_string(port) +
                        "\r\nUser-Agent: gtest_fork_env-probe\r\nConnection: close\r\n\r\n";
  if (!stream.Send(request, result)) return result;

  std::string response;
  while (response.find("\r\n") == std::string::npos && response.size() < 1024) {
    char buffer[512];
    long n = stream.Receive(buffer, sizeof buffer, result);
    if (n < 0) {
      if (result.reason == "timed out") {
        result.reason = "no status line within " + std::to_string(timeout.count()) + " ms";
      }
      return result;
    }
    if (n == 0) {
      result.reason = "connection closed before a status line";
      return result;
    }
    response.append(buffer, static_cast<size_t>(n));
  }
  // "HTTP/1.1 200 OK"
  int status = 0;
  size_t space = response.find(' ');
  if (response.compare(0, 5, "HTTP/") == 0 && space != std::string::npos) {
    status = std::atoi(response.c_str() + space + 1);
  }
  if (status == 0) {
    result.reason = "not an HTTP response: " + response.substr(0, response.find("\r\n")).substr(0, 80);
    return result;
  }
  result.ok = status >= min_status && status <= max_status;
  if (!result.ok) result.reason = "status " + std::to_string(status);
  return result;
}

void WarmUpTlsClient(const TlsClientFiles& tls) {
  const OpenSsl* ssl = LoadOpenSsl(nullptr);
  ProbeResult ignored;
  if (ssl) ClientContext(*ssl, tls, ignored);
}

ProbeResult TlsHandshakeOnce(const std::string& host, uint16_t port, const TlsClientFiles& tls,
                             std::chrono::milliseconds timeout) {
  ProbeResult result;
  const auto deadline = Clock::now() + timeout;
  UniqueFd sock = Connect(host, port, deadline, result.reason);
  if (!sock) return result;
  Stream stream(sock.get(), deadline);
  if (!stream.StartTls(host, tls, result)) return result;
  result.ok = stream.CloseAndDrain(result);
  return result;
}

}  // namespace gtest_fork_env::detail
