#pragma once

// Server functions shared by the scenario binaries and tests.

#include <gtest_fork_env/server_context.h>

namespace scenarios {

// An httplib server: GET /hello -> "hello from <name>", GET /pid -> its pid,
// GET /die -> answers, then exits with code 3 shortly after, GET
// /log?line=X -> prints X to stdout (the log),
// GET /grandchild -> pid of a child it forked at start that ignores SIGTERM
// (only when started with ServeWithGrandchild). Prints
// "server <name> starting" to stdout first (the log).
int ServeHello(gtest_fork_env::ServerContext& context);

// ServeHello, after forking a grandchild that ignores SIGTERM and sleeps.
int ServeWithGrandchild(gtest_fork_env::ServerContext& context);

// Binds and listens on a plain socket, reports the port, then ignores
// SIGTERM and waits to be killed.
int ServeIgnoringSigterm(gtest_fork_env::ServerContext& context);

}  // namespace scenarios
