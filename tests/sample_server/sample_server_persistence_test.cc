// The sample server with a data file: what it acknowledged survives a stop
// and start (SIGTERM), a SIGKILL right after the reply, and a damaged tail,
// which is cut off and reported without losing what came before it.
//
// Every file lives in a directory of this test process (TestDirectory). One
// test restarts the binary's global server; the others run a LocalServer of
// their own, on a data file of their own.

#include <fcntl.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "sample_server_test_support.h"

namespace {

using sample_server_test::MakeClient;
using sample_server_test::MakeValue;
using sample_server_test::ReadFile;
using sample_server_test::TestDirectory;
using Json = nlohmann::json;

// The directory is removed after the servers stopped: environments are torn
// down in the reverse order of registration.
const bool directory_cleanup = (sample_server_test::CleanUpTestDirectory(), true);

// Relative: in each test's own data directory (Scope::kTest).
gtest_fork_env::ForkServerEnv* const global_server = sample_server_test::AddSampleServer("kv", [] {
  sample_server::Config config;
  config.data_file = "global.kvlog";
  return config;
});

// What a client sees: every key and its value.
using Contents = std::map<std::string, std::string>;

Contents ReadAll(httplib::Client& client) {
  Contents contents;
  auto listed = client.Get("/v1/kv?limit=10000");
  EXPECT_TRUE(listed && listed->status == 200);
  if (!listed || listed->status != 200) return contents;
  for (const std::string& key : Json::parse(listed->body).get<std::vector<std::string>>()) {
    auto got = client.Get("/v1/kv/" + key);
    EXPECT_TRUE(got && got->status == 200) << key;
    if (got && got->status == 200) contents[key] = got->body;
  }
  return contents;
}

// A sample server on a data file that a test starts, stops and kills at will.
// ForkServerEnv's SetUp and TearDown are public, so it runs here as a plain
// object, unknown to GoogleTest; destroying it kills and reaps a server that
// still runs.
class LocalServer {
 public:
  explicit LocalServer(std::string data_file, bool fsync = false) {
    config_.data_file = std::move(data_file);
    config_.fsync = fsync;
  }

  // Starts a new server process on the data file and waits until it is
  // ready; false when it did not start (the environment reports why).
  bool Start() {
    // Each its own name: two environments may not share one.
    static int instances = 0;
    gtest_fork_env::Options options =
        sample_server_test::ServerOptions("local-" + std::to_string(++instances));
    // Made inside a test, this environment is unknown to a re-executed copy
    // of the binary, so it must fork (the test process has one thread here).
    options.spawn_mode = gtest_fork_env::SpawnMode::kFork;
    options.log_path = config_.data_file + "." + std::to_string(++starts_) + ".log";
    sample_server::Config config = config_;
    env_ = std::make_unique<gtest_fork_env::ForkServerEnv>(
        [config](gtest_fork_env::ServerContext& context) {
          return sample_server::Serve(context, config);
        },
        options);
    env_->SetUp();
    return env_->IsRunning();
  }
  // SIGTERM, as TearDown after the last test does: a clean stop.
  void Stop() {
    env_->TearDown();
    env_.reset();
  }
  // SIGKILL: the process gets no chance to write or flush anything more.
  void Kill() {
    ASSERT_EQ(kill(env_->pid(), SIGKILL), 0);
    env_.reset();  // reaps it
  }
  std::unique_ptr<httplib::Client> Client() const { return MakeClient(*env_); }
  // The server's log so far.
  std::string Log() const { return ReadFile(env_->log_path()); }
  const gtest_fork_env::ForkServerEnv& env() const { return *env_; }

 private:
  sample_server::Config config_;
  int starts_ = 0;
  std::unique_ptr<gtest_fork_env::ForkServerEnv> env_;
};

// A file in the test directory named after the running test.
std::string DataFile(const std::string& name) {
  std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  std::replace(test.begin(), test.end(), '/', '_');  // parameterized tests
  return TestDirectory() + "/" + test + "." + name + ".kvlog";
}

// Puts, replaces and deletes keys under `prefix`; returns what must remain.
Contents WriteHistory(httplib::Client& client, const std::string& prefix, int keys) {
  Contents expected;
  for (int i = 0; i < keys; ++i) {
    const std::string key = prefix + std::to_string(i);
    const std::string first = MakeValue(key + ".v1", 10 + 97 * i);
    EXPECT_EQ(client.Put("/v1/kv/" + key, first, "text/plain")->status, 201);
    expected[key] = first;
    if (i % 3 == 1) {
      const std::string second = MakeValue(key + ".v2", 5 + 31 * i);
      EXPECT_EQ(client.Put("/v1/kv/" + key, second, "text/plain")->status, 200);
      expected[key] = second;
    }
    if (i % 5 == 2) {
      EXPECT_EQ(client.Delete("/v1/kv/" + key)->status, 204);
      expected.erase(key);
    }
  }
  return expected;
}

Contents WithPrefix(const Contents& all, const std::string& prefix) {
  Contents some;
  for (const auto& [key, value] : all) {
    if (key.compare(0, prefix.size(), prefix) == 0) some[key] = value;
  }
  return some;
}

// The binary's own server, restarted from inside a test: Restart() stops it
// with SIGTERM and starts a new process on the same port. (The client is
// closed first: an idle keep-alive connection would hold httplib's stop for
// the keep-alive timeout.)
TEST(SampleServerPersistence, GlobalServerKeepsWritesAcrossRestart) {
  Contents expected;
  {
    auto client = MakeClient(*global_server);
    expected = WriteHistory(*client, "global.", 20);
  }
  const std::string url = global_server->url();
  const pid_t pid = global_server->pid();
  ASSERT_TRUE(global_server->Restart());
  EXPECT_NE(global_server->pid(), pid);
  EXPECT_EQ(global_server->url(), url);
  auto client = MakeClient(*global_server);
  EXPECT_EQ(WithPrefix(ReadAll(*client), "global."), expected);
  EXPECT_EQ(client->Put("/v1/kv/global.after", "after", "text/plain")->status, 201);
}

// Under Scope::kTest every test has a data file of its own, in a directory
// of its own: two tests that each find the store empty and write to it, in
// whichever order (shuffled, sharded) they run in one process.
void ExpectOwnEmptyDataFile(const std::string& tag) {
  const std::string file = global_server->data_dir() + "/global.kvlog";
  auto client = MakeClient(*global_server);
  EXPECT_TRUE(ReadAll(*client).empty());
  EXPECT_EQ(client->Put("/v1/kv/" + tag, tag, "text/plain")->status, 201);
  EXPECT_NE(ReadFile(file).find(tag), std::string::npos) << file;
}

TEST(SampleServerDataIsolation, FirstTestHasItsOwnDataFile) { ExpectOwnEmptyDataFile("first"); }
TEST(SampleServerDataIsolation, SecondTestHasItsOwnDataFile) { ExpectOwnEmptyDataFile("second"); }

TEST(SampleServerPersistence, WritesSurviveStopAndStart) {
  LocalServer server(DataFile("log"));
  ASSERT_TRUE(server.Start());
  const Contents expected = WriteHistory(*server.Client(), "k", 30);
  server.Stop();
  ASSERT_TRUE(server.Start());
  EXPECT_EQ(ReadAll(*server.Client()), expected);
  EXPECT_NE(server.Log().find("replayed"), std::string::npos) << server.Log();
  EXPECT_EQ(server.Log().find("damaged"), std::string::npos) << server.Log();
}

class SampleServerSigkill : public ::testing::TestWithParam<bool> {};

// Acknowledged means written: a SIGKILL right after the last reply loses
// nothing, with or without --fsync.
TEST_P(SampleServerSigkill, AcknowledgedWritesSurviveSigkill) {
  LocalServer server(DataFile("log"), /*fsync=*/GetParam());
  ASSERT_TRUE(server.Start());
  Contents expected = WriteHistory(*server.Client(), "k", 30);
  server.Kill();
  ASSERT_TRUE(server.Start());
  EXPECT_EQ(ReadAll(*server.Client()), expected);

  // And again, with more history on top of the replayed log.
  Contents more = WriteHistory(*server.Client(), "m", 10);
  expected.insert(more.begin(), more.end());
  server.Kill();
  ASSERT_TRUE(server.Start());
  EXPECT_EQ(ReadAll(*server.Client()), expected);
}

INSTANTIATE_TEST_SUITE_P(SampleServerPersistence, SampleServerSigkill, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "WithFsync" : "WithoutFsync";
                         });

// How a crash can leave the end of the data file. The damage hits the last
// record (PUT k4, `last_record_size` bytes) or comes after it.
struct Damage {
  const char* name;
  bool last_record_survives;
  void (*apply)(const std::string& file, off_t size, off_t last_record_size);
};

void PrintTo(const Damage& damage, std::ostream* out) { *out << damage.name; }

void Truncate(const std::string& file, off_t size) { ASSERT_EQ(truncate(file.c_str(), size), 0); }

void Append(const std::string& file, const std::string& bytes) {
  std::ofstream(file, std::ios::binary | std::ios::app) << bytes;
}

const Damage kDamages[] = {
    {"LastRecordCutInItsValue", false,
     [](const std::string& file, off_t size, off_t) { Truncate(file, size - 3); }},
    {"LastRecordCutInItsHeader", false,
     [](const std::string& file, off_t size, off_t last) { Truncate(file, size - last + 5); }},
    {"LastRecordWithAFlippedByte", false,
     [](const std::string& file, off_t size, off_t) {
       std::fstream stream(file, std::ios::binary | std::ios::in | std::ios::out);
       stream.seekp(size - 10);
       stream.put('#');
     }},
    {"GarbageAfterTheLastRecord", true,
     [](const std::string& file, off_t, off_t) {
       std::mt19937 random(7);
       std::string garbage(100, '\0');
       for (char& c : garbage) c = static_cast<char>(random());
       Append(file, garbage);
     }},
    {"ZerosAfterTheLastRecord", true,
     [](const std::string& file, off_t, off_t) { Append(file, std::string(4096, '\0')); }},
    {"HeaderOfAHugeRecordAfterTheLastRecord", true,
     [](const std::string& file, off_t, off_t) {
       Append(file,
              std::string("\x01\x02\x03\x04\x01\x03\x00\x00\x00\xff\xff\xff\x0f", 13) + "abc");
     }},
};

class SampleServerDamagedTail : public ::testing::TestWithParam<Damage> {};

TEST_P(SampleServerDamagedTail, IsCutOffAndReportedAndNothingBeforeItIsLost) {
  const Damage& damage = GetParam();
  const std::string file = DataFile("log");
  LocalServer server(file);
  ASSERT_TRUE(server.Start());
  Contents expected;
  {
    auto client = server.Client();
    for (int i = 0; i < 5; ++i) {
      const std::string key = "k" + std::to_string(i);
      expected[key] = MakeValue(key, 100 + 10 * i);
      ASSERT_EQ(client->Put("/v1/kv/" + key, expected[key], "text/plain")->status, 201);
    }
  }
  server.Stop();
  struct stat info;
  ASSERT_EQ(stat(file.c_str(), &info), 0);
  const off_t last_record_size = 13 + 2 + static_cast<off_t>(expected["k4"].size());
  damage.apply(file, info.st_size, last_record_size);
  if (!damage.last_record_survives) expected.erase("k4");

  ASSERT_TRUE(server.Start());
  EXPECT_EQ(ReadAll(*server.Client()), expected);
  const std::string log = server.Log();
  EXPECT_NE(log.find("damaged tail cut off"), std::string::npos) << log;

  // The cut is real: a write after it is replayed after the next restart
  // instead of hiding behind the damage.
  expected["k5"] = MakeValue("k5", 77);
  ASSERT_EQ(server.Client()->Put("/v1/kv/k5", expected["k5"], "text/plain")->status, 201);
  server.Stop();
  ASSERT_TRUE(server.Start());
  EXPECT_EQ(ReadAll(*server.Client()), expected);
  EXPECT_EQ(server.Log().find("damaged"), std::string::npos) << server.Log();
}

INSTANTIATE_TEST_SUITE_P(SampleServerPersistence, SampleServerDamagedTail,
                         ::testing::ValuesIn(kDamages),
                         [](const ::testing::TestParamInfo<Damage>& info) {
                           return std::string(info.param.name);
                         });

// Many writers at once, then a SIGKILL: the replay rebuilds exactly the state
// the clients saw, so the log holds the changes in the order they were made.
TEST(SampleServerPersistence, ConcurrentWritesReplayToTheStateClientsSaw) {
  LocalServer server(DataFile("log"));
  ASSERT_TRUE(server.Start());
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      auto client = server.Client();
      std::mt19937 random(t);
      for (int op = 0; op < 100; ++op) {
        const std::string path = "/v1/kv/shared." + std::to_string(random() % 8);
        if (random() % 4 == 0) {
          client->Delete(path);
        } else {
          client->Put(
              path,
              MakeValue("w" + std::to_string(t) + "." + std::to_string(op), 1 + random() % 5000),
              "text/plain");
        }
      }
    });
  }
  for (std::thread& writer : writers) writer.join();
  const Contents seen = ReadAll(*server.Client());
  EXPECT_FALSE(seen.empty());
  server.Kill();
  ASSERT_TRUE(server.Start());
  EXPECT_EQ(ReadAll(*server.Client()), seen);
}

TEST(SampleServerPersistence, FileThatIsNotADataFileIsRefusedAndLeftAlone) {
  const std::string file = DataFile("foreign");
  const std::string content = "this is somebody else's file\n";
  std::ofstream(file, std::ios::binary) << content;
  LocalServer server(file);
  EXPECT_NONFATAL_FAILURE(server.Start(), "is not a sample_server data file");
  EXPECT_EQ(ReadFile(file), content);
}

TEST(SampleServerPersistence, SecondServerOnTheSameFileIsRefused) {
  const std::string file = DataFile("shared");
  LocalServer first(file);
  ASSERT_TRUE(first.Start());
  ASSERT_EQ(first.Client()->Put("/v1/kv/mine", "first", "text/plain")->status, 201);
  LocalServer second(file);
  EXPECT_NONFATAL_FAILURE(second.Start(), "is in use by another process");
  EXPECT_EQ(first.Client()->Get("/v1/kv/mine")->body, "first");
}

}  // namespace
