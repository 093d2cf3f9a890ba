#pragma once

// The routes of the per-test-scope scenario's server, header-only, so that
// the server function (scenarios/per_test_scope.cc) and the program that
// links only the server side (programs/linked_server.cc) serve the same:
//   GET /value          the value a fresh server starts with ("unset")
//   GET /set?to=X       changes it (a later test on the same server sees it)
//   GET /pid            the serving process
//   GET /crash          prints "crashing as asked" and aborts

#include <httplib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace scenarios {

inline void InstallScopedRoutes(httplib::Server& server, std::string& value) {
  server.Get("/value", [&value](const httplib::Request&, httplib::Response& response) {
    response.set_content(value, "text/plain");
  });
  server.Get("/set", [&value](const httplib::Request& request, httplib::Response& response) {
    value = request.get_param_value("to");
    response.set_content(value, "text/plain");
  });
  server.Get("/pid", [](const httplib::Request&, httplib::Response& response) {
    response.set_content(std::to_string(getpid()), "text/plain");
  });
  server.Get("/crash", [](const httplib::Request&, httplib::Response&) {
    std::printf("crashing as asked\n");
    std::fflush(stdout);
    std::abort();
  });
}

}  // namespace scenarios
