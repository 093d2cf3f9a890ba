#include "tls/tls_servers.h"

#include <httplib.h>

#include <cstdlib>
#include <memory>
#include <string>

#include <gtest_fork_env/httplib_server.h>

namespace tls_test {
namespace {

int Serve(gtest_fork_env::ServerContext& context, const char* client_ca) {
  std::unique_ptr<httplib::Server> server;
  if (context.tls_cert_path().empty()) {
    server = std::make_unique<httplib::Server>();
  } else {
    server = std::make_unique<httplib::SSLServer>(context.tls_cert_path().c_str(),
                                                  context.tls_key_path().c_str(), client_ca);
  }
  server->set_keep_alive_timeout(1);
  const std::string name = context.name();
  server->Get("/hello", [name](const httplib::Request&, httplib::Response& response) {
    response.set_content("hello from " + name, "text/plain");
  });
  server->Get("/env", [](const httplib::Request& request, httplib::Response& response) {
    const char* value = std::getenv(request.get_param_value("name").c_str());
    response.set_content(value ? value : "", "text/plain");
  });
  return gtest_fork_env::ServeHttplib(*server, context);
}

}  // namespace

int ServeHelloTls(gtest_fork_env::ServerContext& context) { return Serve(context, nullptr); }

int ServeRequiringClientCert(gtest_fork_env::ServerContext& context) {
  return Serve(context, context.tls_ca_path().c_str());
}

}  // namespace tls_test
