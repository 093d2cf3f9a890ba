#include "kept_entries.h"

#include <signal.h>

#include <cstdlib>
#include <cstring>

namespace gtest_fork_env::detail {

void StopHereForTests(const char* point) noexcept {
  const char* wanted = std::getenv("GTEST_FORK_ENV_TEST_STOP_AT");
  if (wanted && std::strcmp(wanted, point) == 0) raise(SIGSTOP);
}

}  // namespace gtest_fork_env::detail
