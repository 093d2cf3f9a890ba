#pragma once

#include <sys/types.h>

#include <string>
#include <system_error>

// The template protocol: lines on a stream socket between the test process
// and a server process under Scope::kTest or kTestSuite. Both sides read and
// write it only through this file, so the format has one owner.
//
//   server -> test   "linked"           a program that links the library made
//                                       its ServerContext (exec mode): a
//                                       checkpoint may follow once it listens
//   server -> test   "checkpoint"       it reached Checkpoint(): a template now
//   server -> test   "threads <n>"      it reached Checkpoint() with n threads
//                                       and cannot be a template; it exits
//   test -> server   "clone <dir>"      fork a clone whose data_dir() is <dir>
//   test -> server   "spare <dir>"      the same, but the clone waits inside
//                                       Checkpoint() until the test process
//                                       sends it SpareGoSignal()
//   server -> test   "pid <n>"          the clone (or spare), a child of the
//                                       test process
//   server -> test   "error <errno>"    the clone could not be made
//
// End-of-file from the test process means it is gone or done: the template
// kills its clones and exits.
//
// A program in exec mode finds its end of the protocol in its environment:
//   GTEST_FORK_ENV_TEMPLATE_FD=<n>   the socket, inherited as descriptor n
//   GTEST_FORK_ENV_DATA_DIR=<dir>    set in each clone to its data directory
//                                    (by the checkpoint library; a program
//                                    that links the library asks
//                                    ServerContext::data_dir())

namespace gtest_fork_env::detail {

constexpr const char* kTemplateFdVariable = "GTEST_FORK_ENV_TEMPLATE_FD";
constexpr const char* kDataDirVariable = "GTEST_FORK_ENV_DATA_DIR";

struct TemplateMessage {
  enum class Kind { kLinked, kCheckpoint, kThreads, kClone, kSpare, kPid, kError };
  Kind kind = Kind::kCheckpoint;
  long number = 0;   // threads, pid or errno
  std::string text;  // the data directory of kClone and kSpare
};

// The signal that starts a spare, sent with sigqueue by the test process to
// that spare alone. A realtime signal near SIGRTMAX, which nothing sends by
// accident; the spare also checks the sender (AwaitGo). A signal, not a
// line on a pipe: a spare then needs no descriptor of its own, and a spare
// that died leaves nothing queued for the next one.
int SpareGoSignal() noexcept;

// Starts the spare `pid`. Errors: sigqueue's (ESRCH: it is gone).
std::error_code SendGo(pid_t pid) noexcept;

// Writes one message as a line. Errors: the write's errno.
std::error_code SendMessage(int fd, const TemplateMessage& message) noexcept;

// Splits what arrives on a stream into messages.
class MessageReader {
 public:
  // Reads what `fd` has now (one read) into the buffer. Returns false at
  // end-of-file or on an error other than EAGAIN.
  bool Fill(int fd);
  // The next complete message, if one has arrived; a line that is not one
  // is skipped.
  bool Next(TemplateMessage* message);

 private:
  std::string buffer_;
};

}  // namespace gtest_fork_env::detail
