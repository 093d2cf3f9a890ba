#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace gtest_fork_env {

// How ForkServerEnv decides that a server is ready. Every probe is retried
// with a back-off that starts at 0.5 ms and doubles up to 2 ms, until it
// passes, the server exits, or Options::start_timeout runs out.
struct Probe {
  enum class Kind {
    kTcpConnect,  // a TCP connection to host:port is accepted
    kHttpGet,     // GET http_path answers a status in [min_status, max_status]
    kLogLine,     // a line of the server's output matches log_pattern
    kPredicate,   // predicate(host, port) returns true
    kNone,        // ready as soon as the port is known
  };

  // The default. With ServeHttplib it passes on the first try: the server
  // reports its port only after listen(), and the kernel queues connections.
  static Probe TcpConnect() { return Probe{}; }
  // For servers that accept connections before they can answer requests.
  static Probe HttpGet(std::string path = "/", int min_status = 200, int max_status = 299) {
    Probe probe;
    probe.kind = Kind::kHttpGet;
    probe.http_path = std::move(path);
    probe.min_status = min_status;
    probe.max_status = max_status;
    return probe;
  }
  // For servers that print when they are ready. `pattern` is an ECMAScript
  // regular expression searched in each line the server wrote since it was
  // started (std::regex_search).
  static Probe LogLine(std::string pattern) {
    Probe probe;
    probe.kind = Kind::kLogLine;
    probe.log_pattern = std::move(pattern);
    return probe;
  }
  // Any check of your own, e.g. a gRPC health call. Runs in the test process;
  // must return within a second or so.
  static Probe Predicate(std::function<bool(const std::string& host, uint16_t port)> predicate) {
    Probe probe;
    probe.kind = Kind::kPredicate;
    probe.predicate = std::move(predicate);
    return probe;
  }
  static Probe None() {
    Probe probe;
    probe.kind = Kind::kNone;
    return probe;
  }

  Kind kind = Kind::kTcpConnect;
  std::string http_path = "/";
  int min_status = 200;
  int max_status = 299;
  std::string log_pattern;
  std::function<bool(const std::string& host, uint16_t port)> predicate;
};

// How the server process is made.
enum class SpawnMode {
  // fork when the test binary has one thread, kReexec when it has more.
  kAuto,
  // fork() and call the server function in the child. Fast (well under a
  // millisecond), but unsafe when other threads exist: a lock one of them
  // holds (malloc's, spdlog's) stays locked in the child forever.
  kFork,
  // fork() and exec the test binary itself (/proc/self/exe, Linux) with an
  // internal variable that makes it run only the server function, as
  // GoogleTest's threadsafe death tests do. Safe with threads; costs the
  // binary's start-up.
  kReexec,
};

// How long one server process serves, and so what the tests share.
enum class Scope {
  // One server for the whole test binary (the default): the tests share its
  // state, and a crash fails every later test.
  kBinary,
  // A fresh server for each test suite, shared by that suite's tests.
  kTestSuite,
  // A fresh server for each test. With a server function that calls
  // ServerContext::Checkpoint() (ServeHttplib does), each server is a
  // copy-on-write clone of a warm template process, made in about a
  // millisecond; anything else is started from scratch for each test.
  kTest,
};

// Settings of one ForkServerEnv. Every field has a default that suits a
// server on loopback.
struct Options {
  // Names the server in every message, in its log file name and in
  // GTEST_FORK_ENV_INTERNAL_SERVE. Give each server of a binary its own.
  std::string name = "server";
  // The address the server binds and the probes connect to. Loopback by
  // default: a test server must not be reachable from other machines.
  std::string host = "127.0.0.1";
  // 0: the server binds any free port and reports it (no race under
  // `ctest -j`). Anything else: that port, which parallel runs then share.
  uint16_t port = 0;
  // From the fork until the probe passes.
  std::chrono::milliseconds start_timeout{10000};
  // From SIGTERM until SIGKILL.
  std::chrono::milliseconds stop_timeout{5000};
  Probe probe = Probe::TcpConnect();
  // Where the server's stdout and stderr go. Empty: a fresh file in
  // <$TEST_TMPDIR, $TMPDIR or /tmp>/gtest_fork_env-logs-<uid>/, removed by
  // TearDown after a clean run and kept otherwise (the newest 5 per server
  // name; see docs/running-across-machines.md).
  std::string log_path;
  // Keep the temporary log even after a clean run.
  bool keep_log = false;
  // How many lines of the log a failure message shows.
  size_t log_tail_lines = 20;
  SpawnMode spawn_mode = SpawnMode::kAuto;
  // Which tests share one server process (see Scope).
  Scope scope = Scope::kBinary;
  // Start the server only when a test first asks where it is (host(),
  // port(), url() or pid()), or another server's {NAME.port} placeholder
  // names it, instead of in SetUp: a test process whose tests do not use
  // this server never pays for its start. A failure to start is reported in
  // the test that asked (and every later one that asks). Under Scope::kTest
  // each test that asks gets a fresh server; one that does not, none. The
  // GTEST_FORK_ENV_<NAME>_* variables appear once it started.
  bool lazy_start = false;

  // "NAME=value" entries added to the server's environment. Placeholders are
  // replaced, as in ForkServerEnv::Exec's arguments.
  std::vector<std::string> env;
  // Exec mode: the program's working directory; empty keeps the test's. Placeholders
  // are replaced: "{data_dir}" with preload_checkpoint makes each clone work
  // in its own data directory.
  std::string working_dir;
  // Exec mode: the library binds a listening socket itself and hands it to
  // the program as descriptor 3, with LISTEN_FDS=1, LISTEN_PID and
  // LISTEN_FDNAMES=<name> (systemd's socket activation, sd_listen_fds(3)).
  // No port race at all, and the socket survives Restart().
  bool socket_activation = false;
  // Exec mode, port 0, no socket activation: the library picks a free port
  // for {port}; another process may take it before the program binds it. A
  // program that then exits during start-up saying "Address already in use"
  // is started again on a fresh port, up to this many times.
  int port_retries = 3;
  // Exec mode, Scope::kTest or kTestSuite: warm clones of a program that
  // does not link gtest_fork_env. The library preloads its checkpoint
  // library into the program (LD_PRELOAD; installed with the library, found
  // without configuration), and the program becomes the template the first
  // time it waits for a connection on a listening TCP socket (accept, or a
  // poll, select or epoll wait that includes such a socket): everything
  // before that runs once, and each test gets a copy-on-write clone of the
  // process from that point, as a server function's clone returns from
  // Checkpoint(). The clone finds its data directory in
  // $GTEST_FORK_ENV_DATA_DIR, and nothing it executes inherits the preload.
  // Errors (SetUp fails at once, naming the server): the program has more
  // than one thread when it first waits (redis-server, Node: start such
  // programs anew for each test, without this option); it is statically
  // linked or set-user-ID, so the loader preloads nothing; it never waits on
  // a listening socket within start_timeout. A program that links the
  // library and calls ServerContext::Checkpoint() needs no option.
  bool preload_checkpoint = false;
  // Scope::kTest and kTestSuite: once a second test asks for a clone, the
  // template moves its warm memory onto transparent huge pages (2 MiB
  // pages, MADV_COLLAPSE) while it waits between clones, so that a clone of
  // a big template forks and exits about as fast as one of a small
  // template. Only writable private anonymous memory (heap, anonymous
  // mappings) whose pages are at least 3/4 in use, and only when that adds
  // up to 16 MiB; nothing when transparent huge pages are "never". Costs the
  // template CPU once (10-160 ms for 64 MiB here) and up to a third more
  // memory for what it collapses; a clone still copies only the 4 KiB it
  // writes, after splitting that huge page in itself (16-19 us each here).
  // false (or GTEST_FORK_ENV_HUGE_PAGES=0 in the environment) keeps the
  // template as it warmed up. docs/guide.md, "Big warm templates".
  bool huge_pages = true;
  // Scope::kTest and kTestSuite: after a test (suite) that passed, end its
  // clone with SIGKILL at once instead of SIGTERM and a wait for it to exit.
  // Nothing such a clone leaves is kept (its data directory is removed and
  // its memory thrown away), so a clean stop buys nothing but time, unless
  // the server writes somewhere else at exit that a later test reads, or you
  // want a crash on SIGTERM to be reported. A failed test's clone still gets
  // SIGTERM, so that its log and data directory are complete for you to
  // read. Off by default: a server's own exit path then always runs.
  bool kill_passed_clones = false;

  // --- HTTPS (docs/https.md) ---
  // Makes a throwaway CA and a server certificate for the test binary (once,
  // in the test process, before the server starts) and serves HTTPS: the
  // server gets the files through ServerContext::tls_cert_path() and friends
  // (exec mode: {tls_cert}, {tls_key}, {ca_cert}), url() says https://, and
  // the probes speak TLS and verify the server against that CA. The files
  // live in a private directory removed when the binary ends, even by
  // SIGKILL. Never downgraded to plain HTTP: a server that does not speak TLS
  // with that certificate is not ready.
  bool tls = false;
  // With tls: also a client certificate signed by the same CA
  // (ForkServerEnv::client_cert_path()), which the probes present; the server
  // is expected to require one (mutual TLS).
  bool tls_client_auth = false;
};

}  // namespace gtest_fork_env
