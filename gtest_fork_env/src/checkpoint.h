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
// after killing its clones. Returns true in each clone, with the data
// directory that clone serves from in `data_dir`; the clone is a child of
// the test process (clone with CLONE_PARENT), so the test process reaps it
// and sees how it ended. Returns false at once, in the same process, when
// the test process no longer listens (it took the server for one that does
// not checkpoint): the caller then serves as if no test were there.
// A process with more than one thread reports its thread count and exits:
// forking it could leave a lock held forever in the clone.
// This is the one template side: ServerContext::Checkpoint() of a server
// function or of a program that links the library, and the checkpoint
// library preloaded into a program (preload/checkpoint_preload.cc), all
// come here.
bool BecomeTemplate(int control_fd, std::string* data_dir);

// Exec mode: the template protocol's socket that the library handed this
// program (kTemplateFdVariable), or -1 when there is none or the variable
// does not name a socket. Takes the variable out of the environment and
// makes the descriptor close-on-exec, so that nothing the program runs
// later inherits either. With `announce_linked`, says "linked" on it: the
// test process then waits for a checkpoint once the program listens, and
// for no other program.
int TakeTemplateChannel(bool announce_linked) noexcept;

// Number of threads in this process (from /proc/self/task, as gtest's
// GetThreadCount does), or 0 when it cannot be told (no /proc).
size_t CountThreads() noexcept;

}  // namespace gtest_fork_env::detail
