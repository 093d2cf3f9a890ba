// Options::huge_pages: a template with 64 MiB of warm state moves it onto
// transparent huge pages once a second test asks for a clone, and every
// clone still sees the template's bytes and keeps its own writes to itself.
// Read from outside: the template's AnonHugePages in /proc/<pid>/smaps_rollup.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <gtest_fork_env/httplib_client.h>
#include <gtest_fork_env/httplib_server.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstdint>
#include <fstream>
#include <string>
#include <thread>

#include "server_instance.h"
#include "support/subprocess.h"

namespace {

using namespace gtest_fork_env;  // Options, Scope, ServerContext
using detail::Launch;
using detail::ServerInstance;
using std::chrono::milliseconds;
using test_support::WaitUntil;

constexpr size_t kWarmBytes = size_t{64} << 20;
constexpr size_t kHugePage = size_t{2} << 20;

// The template's warm state: every byte set from its offset, so that any
// page a clone or the kernel got wrong shows.
unsigned char* g_warm = nullptr;
unsigned char Expected(size_t at) { return static_cast<unsigned char>((at * 7 + at / 4096) | 1); }

int WarmServer(ServerContext& context) {
  g_warm = static_cast<unsigned char*>(
      mmap(nullptr, kWarmBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (g_warm == MAP_FAILED) return 1;
  for (size_t at = 0; at < kWarmBytes; ++at) g_warm[at] = Expected(at);
  httplib::Server server;
  // Whether the warm state is as the template wrote it (a sample of bytes
  // in every small page, and every byte /scribble writes).
  server.Get("/intact", [](const httplib::Request&, httplib::Response& response) {
    bool intact = true;
    for (size_t at = 0; at < kWarmBytes && intact; at += 4093) intact = g_warm[at] == Expected(at);
    for (size_t at = 5; at < kWarmBytes && intact; at += kHugePage) {
      intact = g_warm[at] == Expected(at);
    }
    response.set_content(intact ? "intact" : "changed", "text/plain");
  });
  // A test's own writes: one byte in every huge page.
  server.Post("/scribble", [](const httplib::Request&, httplib::Response& response) {
    for (size_t at = 0; at < kWarmBytes; at += kHugePage) g_warm[at + 5] = 0;
    response.set_content("written", "text/plain");
  });
  return ServeHttplib(server, context);
}

// AnonHugePages of `pid` in bytes, -1 when it cannot be read.
long long AnonHugeBytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string key;
  long long kilobytes = -1;
  while (in >> key) {
    if (key == "AnonHugePages:" && in >> kilobytes) return kilobytes * 1024;
  }
  return -1;
}

std::string TransparentHugePagesMode() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string text;
  std::getline(in, text);
  return text;
}

// Whether this kernel knows MADV_COLLAPSE (an empty range checks only that).
bool KernelCanCollapse() {
  static char page[4096] __attribute__((aligned(4096)));
  return madvise(page, 0, 25 /* MADV_COLLAPSE */) == 0;
}

// Bytes of `pid`'s mappings that carry MADV_HUGEPAGE ("hg" in VmFlags).
long long AdvisedHugeBytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps");
  std::string line;
  long long size_kb = 0, advised_kb = 0;
  while (std::getline(in, line)) {
    if (line.rfind("Size:", 0) == 0) size_kb = std::atoll(line.c_str() + 5);
    if (line.rfind("VmFlags:", 0) == 0 && (line + " ").find(" hg ") != std::string::npos) {
      advised_kb += size_kb;
    }
  }
  return advised_kb * 1024;
}

std::unique_ptr<ServerInstance> WarmTemplate(bool huge_pages, std::string variable = "") {
  Options options;
  options.name = huge_pages ? "warm-huge" : "warm-small";
  options.scope = Scope::kTest;
  options.huge_pages = huge_pages;
  if (!variable.empty()) options.env.push_back("GTEST_FORK_ENV_HUGE_PAGES=" + variable);
  Launch launch;
  launch.function = WarmServer;
  return std::make_unique<ServerInstance>(options, launch);
}

// One test: a clone, its GETs, its end.
std::string RunUnit(ServerInstance& server, bool scribble) {
  if (auto failure = server.Start(false)) return "start failed: " + *failure;
  httplib::Client client("127.0.0.1", server.port());
  auto intact = client.Get("/intact");
  std::string seen = intact ? intact->body : "no answer";
  if (scribble) {
    auto written = client.Post("/scribble");
    auto after = client.Get("/intact");
    if (!written || !after || after->body != "changed") seen += ", scribble not seen";
  }
  if (auto failure = server.EndUnit(false, "test HugePages")) return "end failed: " + *failure;
  return seen;
}

class HugePages : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string mode = TransparentHugePagesMode();
    if (mode.empty() || mode.find("[never]") != std::string::npos) {
      GTEST_SKIP() << "transparent huge pages are off here: '" << mode << "'";
    }
  }
};

TEST_F(HugePages, WarmStateMovesOntoThemOnceASecondTestStartsAndClonesStayApart) {
  if (!KernelCanCollapse()) GTEST_SKIP() << "this kernel has no MADV_COLLAPSE";
  auto server = WarmTemplate(true);
  // The first test: its clone and the spare for the next one; no collapse.
  EXPECT_EQ(RunUnit(*server, true), "intact");
  const pid_t template_pid = server->template_pid();
  std::this_thread::sleep_for(milliseconds(300));
  if (TransparentHugePagesMode().find("[madvise]") != std::string::npos) {
    EXPECT_LT(AnonHugeBytes(template_pid), static_cast<long long>(kHugePage))
        << "collapsed for a process that ran one test";
  }
  // The second test orders the third clone: the template collapses while
  // the tests go on, and answers each order first.
  long long huge = 0;
  for (int unit = 0; unit < 200 && huge < static_cast<long long>(kWarmBytes * 3 / 4); ++unit) {
    ASSERT_EQ(RunUnit(*server, unit % 2 == 0), "intact") << "test " << unit + 2;
    huge = AnonHugeBytes(template_pid);
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_GE(huge, static_cast<long long>(kWarmBytes * 3 / 4));
  // After it: each clone still starts from the template's bytes.
  for (int unit = 0; unit < 4; ++unit) EXPECT_EQ(RunUnit(*server, true), "intact");
  EXPECT_EQ(server->template_pid(), template_pid) << "the template was started again";
  server->Finish(true);
}

// As on a kernel without MADV_COLLAPSE: the warm state is only marked for
// khugepaged, and the template serves as before.
TEST_F(HugePages, WithoutCollapseTheWarmStateIsMarkedAndClonesStillWork) {
  auto server = WarmTemplate(true, "madvise");
  for (int unit = 0; unit < 6; ++unit) ASSERT_EQ(RunUnit(*server, true), "intact");
  const pid_t template_pid = server->template_pid();
  EXPECT_TRUE(WaitUntil(
      [&] { return AdvisedHugeBytes(template_pid) >= static_cast<long long>(kWarmBytes * 3 / 4); },
      milliseconds(5000)))
      << AdvisedHugeBytes(template_pid) << " bytes marked MADV_HUGEPAGE";
  for (int unit = 0; unit < 3; ++unit) EXPECT_EQ(RunUnit(*server, true), "intact");
  server->Finish(true);
}

TEST_F(HugePages, TurnedOffTheTemplateKeepsItsSmallPages) {
  if (TransparentHugePagesMode().find("[always]") != std::string::npos) {
    GTEST_SKIP() << "with 'always' the kernel itself may give the warm state huge pages";
  }
  auto server = WarmTemplate(false);
  for (int unit = 0; unit < 6; ++unit) ASSERT_EQ(RunUnit(*server, true), "intact");
  const pid_t template_pid = server->template_pid();
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_LT(AnonHugeBytes(template_pid), static_cast<long long>(kHugePage));
  EXPECT_EQ(AdvisedHugeBytes(template_pid), 0);
  server->Finish(true);
}

}  // namespace
