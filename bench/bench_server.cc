// The small server as a program of its own, for the exec-mode variants:
//
//   bench_server --host 127.0.0.1 --port 0 --port-fd 3   # the exec floor
//   bench_server --host 127.0.0.1 --port 41234           # ForkServerEnv::Exec
//
// With --port 0 it binds any free port and writes "<port>\n" to --port-fd.
// Serves GET /hello until SIGTERM; the same code as every other variant
// (small_server.h).

#include <cstdlib>
#include <cstring>
#include <string>

#include "small_server.h"

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  long port = 0;
  int port_fd = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--host") == 0) {
      host = argv[i + 1];
    } else if (std::strcmp(argv[i], "--port") == 0) {
      port = std::strtol(argv[i + 1], nullptr, 10);
    } else if (std::strcmp(argv[i], "--port-fd") == 0) {
      port_fd = static_cast<int>(std::strtol(argv[i + 1], nullptr, 10));
    } else {
      std::fprintf(stderr, "usage: bench_server --host H --port P [--port-fd N]\n");
      return 64;
    }
  }
  if (port < 0 || port > 65535 || (port == 0 && port_fd < 0)) {
    std::fprintf(stderr, "bench_server: --port 0 needs --port-fd\n");
    return 64;
  }
  return bench::ServeSmall(host, static_cast<uint16_t>(port), port_fd);
}
