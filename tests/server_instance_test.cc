// ServerInstance alone: one server's life (start, probe, placeholders,
// templates and clones, the end of a unit), driven without a GoogleTest
// environment, as the environment and the benchmarks drive it.

#include "server_instance.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <string>

#include "support/subprocess.h"
#include "template_protocol.h"

namespace {

using namespace gtest_fork_env;  // Options, Probe, Scope, ServerContext
using detail::Failure;
using detail::Launch;
using detail::ServerInstance;
using std::chrono::milliseconds;
using test_support::CountOf;
using test_support::ProcessAlive;
using test_support::ThreadsOf;
using test_support::WaitUntil;
using ::testing::HasSubstr;
using ::testing::Not;

// A server function: listens on the context's host (port 0, or the port the
// library asks for), reports it, reaches the checkpoint (a template under
// Scope::kTest), then accepts and closes connections until SIGTERM, whose
// default action ends it.
int AcceptUntilTerminated(ServerContext& context) {
  const bool v6 = context.host().find(':') != std::string::npos;
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_storage address{};
  socklen_t length = 0;
  if (v6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&address);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(context.port());
    inet_pton(AF_INET6, context.host().c_str(), &in6->sin6_addr);
    length = sizeof *in6;
  } else {
    auto* in4 = reinterpret_cast<sockaddr_in*>(&address);
    in4->sin_family = AF_INET;
    in4->sin_port = htons(context.port());
    inet_pton(AF_INET, context.host().c_str(), &in4->sin_addr);
    length = sizeof *in4;
  }
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      listen(fd, 16) != 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    std::perror("listen");
    return 1;
  }
  const uint16_t port = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&address)->sin6_port
                                 : reinterpret_cast<sockaddr_in*>(&address)->sin_port);
  context.NotifyListening(port);
  context.Checkpoint();
  std::printf("serving in %s\n", context.data_dir().c_str());
  std::fflush(stdout);
  for (;;) {
    int client = accept(fd, nullptr, nullptr);
    if (client >= 0) close(client);
  }
}

Options Named(const std::string& name) {
  Options options;
  options.name = name;
  options.start_timeout = milliseconds(5000);
  options.stop_timeout = milliseconds(2000);
  return options;
}

Launch Function(std::function<int(ServerContext&)> function) {
  Launch launch;
  launch.function = std::move(function);
  return launch;
}

std::string ReadAll(const std::string& path) {
  std::ifstream file(path);
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

// Whether the child `pid` has exited (it may not be reaped yet).
bool HasExited(pid_t pid) {
  siginfo_t info{};
  return waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid;
}

Options PerTest(const std::string& name) {
  Options options = Named(name);
  options.scope = Scope::kTest;
  return options;
}

// Whether the current clone logs, within 5 s, that it serves in its unit's
// data directory (AcceptUntilTerminated writes it after Checkpoint()).
::testing::AssertionResult CloneServes(ServerInstance& server) {
  const std::string serving = "serving in " + server.data_dir() + "\n";
  if (WaitUntil([&] { return ReadAll(server.log_path()).find(serving) != std::string::npos; },
                milliseconds(5000))) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "no \"" << serving << "\" in its log:\n"
                                       << ReadAll(server.log_path());
}

TEST(ServerInstance, StartsAFunctionServerAndStopsIt) {
  ServerInstance server(Named("plain"), Function(AcceptUntilTerminated));
  Failure failure = server.Start(/*same_port=*/false);
  ASSERT_FALSE(failure) << *failure;
  EXPECT_TRUE(server.IsAlive());
  EXPECT_NE(server.port(), 0);
  const pid_t pid = server.pid();
  EXPECT_TRUE(ProcessAlive(pid));
  EXPECT_EQ(server.mode_name(), "fork mode");

  ServerInstance::StopOutcome outcome = server.Stop();
  EXPECT_TRUE(outcome.was_running);
  EXPECT_FALSE(outcome.forced);
  EXPECT_TRUE(outcome.status.signaled && outcome.status.signal == SIGTERM);
  EXPECT_FALSE(ProcessAlive(pid));
  EXPECT_FALSE(server.IsAlive());
  server.Finish(/*remove_temporary_files=*/true);
}

// Listens on the fixed port it was given, then reports it 300 ms later.
int ListenThenReportLate(ServerContext& context) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int yes = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(context.port());
  inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      listen(fd, 16) != 0) {
    std::perror("listen");
    return 1;
  }
  usleep(300 * 1000);  // the probe passes meanwhile
  context.NotifyListening(context.port());
  std::printf("reported\n");
  std::fflush(stdout);
  for (;;) pause();
}

// On a fixed port the probe can pass between the server's listen() and its
// NotifyListening(); the test process then no longer reads the port pipe.
// The late report must not kill the server with SIGPIPE.
TEST(ServerInstance, AReportAfterTheProbePassedLeavesTheServerRunning) {
  Options options = Named("late-report");
  options.port = test_support::FreePort();
  options.port_retries = 0;
  ServerInstance server(options, Function(ListenThenReportLate));
  Failure failure = server.Start(/*same_port=*/false);
  ASSERT_FALSE(failure) << *failure;
  const pid_t pid = server.pid();
  EXPECT_TRUE(WaitUntil([&] { return ReadAll(server.log_path()).find("reported") != std::string::npos; },
                        milliseconds(5000)));
  EXPECT_TRUE(server.IsAlive()) << "the late port report killed the server";
  EXPECT_THAT(ReadAll(server.log_path()), Not(HasSubstr("could not report port")));
  EXPECT_TRUE(ProcessAlive(pid));
  ServerInstance::StopOutcome outcome = server.Stop();
  EXPECT_TRUE(outcome.status.signaled && outcome.status.signal == SIGTERM)
      << "it ended by signal " << outcome.status.signal;
  server.Finish(/*remove_temporary_files=*/true);
}

TEST(ServerInstance, AProbeThatNeverPassesIsExplained) {
  Options options = Named("never-ready");
  options.start_timeout = milliseconds(300);
  options.probe = Probe::Predicate([](const std::string&, uint16_t) { return false; });
  ServerInstance server(options, Function(AcceptUntilTerminated));
  Failure failure = server.Start(/*same_port=*/false);
  ASSERT_TRUE(failure) << "a probe that never passes let the start succeed";
  EXPECT_THAT(*failure, HasSubstr("server 'never-ready' (pid "));
  EXPECT_THAT(*failure, HasSubstr("fork mode"));
  EXPECT_THAT(*failure, HasSubstr("What to do: "));
  EXPECT_FALSE(server.IsAlive()) << "a failed start leaves its process running";
  server.Finish(/*remove_temporary_files=*/true);
}

TEST(ServerInstance, UrlPlaceholderBracketsAnIpv6Host) {
  Options options = Named("v6");
  options.host = "::1";
  options.probe = Probe::LogLine("^url ");
  Launch launch;
  launch.argv = {"/bin/sh", "-c", "echo \"url {url} port {port}\"; exec sleep 30"};
  ServerInstance server(options, launch);
  Failure failure = server.Start(/*same_port=*/false);
  ASSERT_FALSE(failure) << *failure;
  const std::string port = std::to_string(server.port());
  EXPECT_THAT(ReadAll(server.log_path()),
              HasSubstr("url http://[::1]:" + port + " port " + port));
  server.Stop();
  server.Finish(/*remove_temporary_files=*/true);
}

TEST(ServerInstance, TestScopeClonesATemplateOnOnePortWithFreshDataDirs) {
  Options options = Named("cloned");
  options.scope = Scope::kTest;
  ServerInstance server(options, Function(AcceptUntilTerminated));

  ASSERT_FALSE(server.Start(false));
  ASSERT_TRUE(server.has_template());
  const uint16_t port = server.port();
  const pid_t first = server.pid();
  const std::string first_dir = server.data_dir();
  EXPECT_THAT(server.mode_name(), HasSubstr("a clone of its template"));
  EXPECT_FALSE(server.EndUnit(/*keep_data=*/false, "test One"));
  EXPECT_FALSE(ProcessAlive(first));

  ASSERT_FALSE(server.Start(false));
  EXPECT_EQ(server.port(), port);
  EXPECT_NE(server.pid(), first);
  EXPECT_FALSE(server.data_dir().empty());
  EXPECT_NE(server.data_dir(), first_dir);
  EXPECT_EQ(access(first_dir.c_str(), F_OK), -1) << "the first unit's data dir was kept";
  // The clone writes it after Checkpoint() returns, maybe after the probe
  // passed (the shared socket queues the probe's connection).
  EXPECT_TRUE(CloneServes(server));
  EXPECT_FALSE(server.EndUnit(false, "test Two"));
  server.Finish(/*remove_temporary_files=*/true);
  EXPECT_FALSE(server.has_template());
}

TEST(ServerInstance, EndUnitReportsACrashedClone) {
  Options options = Named("crashy");
  options.scope = Scope::kTest;
  ServerInstance server(options, Function(AcceptUntilTerminated));
  ASSERT_FALSE(server.Start(false));
  const pid_t clone = server.pid();
  ASSERT_FALSE(server.Signal(SIGABRT));
  ASSERT_TRUE(server.WaitForExit(milliseconds(5000)));
  Failure failure = server.EndUnit(/*keep_data=*/false, "test Crash.One");
  ASSERT_TRUE(failure) << "a crashed clone went unreported";
  EXPECT_THAT(*failure, HasSubstr("server 'crashy' (pid " + std::to_string(clone)));
  EXPECT_THAT(*failure, HasSubstr("died during test Crash.One"));
  EXPECT_THAT(*failure, HasSubstr("SIGABRT"));
  // The template survives: the next unit gets a fresh clone.
  ASSERT_FALSE(server.Start(false));
  EXPECT_NE(server.pid(), clone);
  EXPECT_FALSE(server.EndUnit(false, "test Crash.Two"));
  server.Finish(/*remove_temporary_files=*/true);
}

// A clone that writes "terminated" to g_stop_marker when SIGTERM comes.
char g_stop_marker[512];
extern "C" void WriteStopMarker(int) {
  const int fd = open(g_stop_marker, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd >= 0 && write(fd, "terminated\n", 11) == 11) close(fd);
  _exit(0);
}
int MarksItsStop(ServerContext& context) {
  signal(SIGTERM, WriteStopMarker);  // before the checkpoint: every clone has it
  return AcceptUntilTerminated(context);
}

// Options::kill_passed_clones: a passed test's clone is killed, with no
// stop path run and nothing reported; a failed test's clone still gets
// SIGTERM; and without the option every clone does.
TEST(ServerInstance, KillPassedClonesSparesOnlyTheFailedTestsClone) {
  const std::string marker = ::testing::TempDir() + "stop-marker-" + std::to_string(getpid());
  std::snprintf(g_stop_marker, sizeof g_stop_marker, "%s", marker.c_str());
  unlink(marker.c_str());
  Options options = PerTest("killed");
  options.kill_passed_clones = true;
  ServerInstance server(options, Function(MarksItsStop));
  ASSERT_FALSE(server.Start(false));
  const pid_t passed = server.pid();
  EXPECT_FALSE(server.EndUnit(/*keep_data=*/false, "test Kill.Passed"));
  EXPECT_FALSE(ProcessAlive(passed));
  EXPECT_EQ(ReadAll(marker), "");
  ASSERT_FALSE(server.Start(true));
  EXPECT_FALSE(server.EndUnit(/*keep_data=*/true, "test Kill.Failed"));
  EXPECT_EQ(ReadAll(marker), "terminated\n");
  server.Finish(true);

  ServerInstance terminated(PerTest("terminated"), Function(MarksItsStop));
  ASSERT_FALSE(terminated.Start(false));
  EXPECT_FALSE(terminated.EndUnit(/*keep_data=*/false, "test Term.Passed"));
  EXPECT_EQ(ReadAll(marker), "terminated\nterminated\n");
  terminated.Finish(true);
  unlink(marker.c_str());
}

// While a unit runs, the template makes the next unit's clone (the spare),
// which waits inside Checkpoint() and serves only once its unit starts.
TEST(ServerInstance, TheNextUnitTakesTheSpareMadeDuringThisOne) {
  ServerInstance server(PerTest("spared"), Function(AcceptUntilTerminated));
  ASSERT_FALSE(server.Start(false));
  const pid_t first = server.pid();
  const pid_t spare = server.spare_pid();
  ASSERT_GT(spare, 0);
  EXPECT_NE(spare, first);
  EXPECT_NE(spare, getpid());
  EXPECT_EQ(ThreadsOf(spare), 1) << "a spare runs nothing while it waits";

  ASSERT_FALSE(server.EndUnit(false, "test One"));
  EXPECT_TRUE(ProcessAlive(spare)) << "ending a unit must leave the next unit's spare";
  ASSERT_FALSE(server.Start(false));
  EXPECT_EQ(server.pid(), spare);
  EXPECT_TRUE(CloneServes(server));
  const pid_t next_spare = server.spare_pid();
  EXPECT_GT(next_spare, 0);
  EXPECT_NE(next_spare, spare);
  EXPECT_FALSE(server.EndUnit(false, "test Two"));
  server.Finish(/*remove_temporary_files=*/true);
  EXPECT_FALSE(ProcessAlive(next_spare)) << "Finish left the spare running or unreaped";
}

TEST(ServerInstance, ASpareThatDiedIsReplacedByAFreshClone) {
  ServerInstance server(PerTest("lost_spare"), Function(AcceptUntilTerminated));
  ASSERT_FALSE(server.Start(false));
  const pid_t spare = server.spare_pid();
  ASSERT_GT(spare, 0);
  ASSERT_EQ(kill(spare, SIGKILL), 0);
  ASSERT_TRUE(WaitUntil([&] { return HasExited(spare); }, milliseconds(5000)));
  ASSERT_FALSE(server.EndUnit(false, "test One"));

  ASSERT_FALSE(server.Start(false)) << "a dead spare failed the next unit";
  EXPECT_NE(server.pid(), spare);
  EXPECT_FALSE(ProcessAlive(spare)) << "the dead spare was not reaped";
  EXPECT_TRUE(CloneServes(server));
  EXPECT_FALSE(server.EndUnit(false, "test Two"));
  server.Finish(/*remove_temporary_files=*/true);
}

// Only its own test process, with sigqueue, starts a spare: a stray signal
// must not make a second process accept on the unit's socket.
TEST(ServerInstance, ASpareIgnoresAGoFromAnyoneButItsTestProcess) {
  ServerInstance server(PerTest("guarded_spare"), Function(AcceptUntilTerminated));
  ASSERT_FALSE(server.Start(false));
  const pid_t spare = server.spare_pid();
  ASSERT_GT(spare, 0);
  const pid_t stranger = fork();
  ASSERT_GE(stranger, 0);
  if (stranger == 0) {
    union sigval value;
    value.sival_int = 0;
    _exit(sigqueue(spare, detail::SpareGoSignal(), value) == 0 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(stranger, &status, 0), stranger);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_EQ(kill(spare, detail::SpareGoSignal()), 0);  // from here, but not queued

  EXPECT_FALSE(WaitUntil([&] { return CountOf(ReadAll(server.log_path()), "serving in") > 1; },
                         milliseconds(300)))
      << "the spare started on a stray signal:\n"
      << ReadAll(server.log_path());
  EXPECT_TRUE(ProcessAlive(spare));
  ASSERT_FALSE(server.EndUnit(false, "test One"));
  ASSERT_FALSE(server.Start(false));
  EXPECT_EQ(server.pid(), spare);
  EXPECT_TRUE(WaitUntil([&] { return CountOf(ReadAll(server.log_path()), "serving in") == 2; },
                        milliseconds(5000)))
      << ReadAll(server.log_path());
  EXPECT_FALSE(server.EndUnit(false, "test Two"));
  server.Finish(/*remove_temporary_files=*/true);
}

// A spare whose template died may be one the test process never heard of
// (the template died before it reported it): it must end by itself, or it
// would hold the listening socket, and so the port, for the rest of the run.
TEST(ServerInstance, ASpareEndsWhenItsTemplateDies) {
  ServerInstance server(PerTest("orphaned_spare"), Function(AcceptUntilTerminated));
  ASSERT_FALSE(server.Start(false));
  const pid_t spare = server.spare_pid();
  ASSERT_GT(spare, 0);
  ASSERT_EQ(kill(server.template_pid(), SIGKILL), 0);
  EXPECT_TRUE(WaitUntil([&] { return HasExited(spare); }, milliseconds(1000)))
      << "the spare outlived its template by a second";
  server.Finish(/*remove_temporary_files=*/true);
  EXPECT_FALSE(ProcessAlive(spare));
}

}  // namespace
