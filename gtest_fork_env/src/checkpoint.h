#pragma once

#include <cstddef>
#include <string>

// The server side of Scope::kTest and kTestSuite: the template process that
// ServerContext::Checkpoint() turns a server into. Runs in the server
// process, so it needs nothing of GoogleTest.

namespace gtest_fork_env::detail {

// Makes this process the template for the test process at the other end of
// `control_fd` (template_protocol.h). Never returns in the template, which
// ends with _exit when the test process closes its end or sends SIGTERM,
// after killing its clones. Returns in each clone, with the data directory
// that clone serves from; the clone is a child of the test process (clone
// with CLONE_PARENT), so the test process reaps it and sees how it ended.
// A process with more than one thread reports its thread count and exits:
// forking it could leave a lock held forever in the clone.
std::string BecomeTemplate(int control_fd);

// Number of threads in this process (from /proc/self/task, as gtest's
// GetThreadCount does), or 0 when it cannot be told (no /proc).
size_t CountThreads() noexcept;

}  // namespace gtest_fork_env::detail
