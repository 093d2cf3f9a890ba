// The sample server under concurrent clients: every acknowledged write is
// stored, no update is lost, and no reader ever sees a torn value. Each
// thread has its own connection; the tallies of what the server acknowledged
// are compared with what it stores afterwards.

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "sample_server_test_support.h"

namespace {

using sample_server_test::IsIntactValue;
using sample_server_test::MakeClient;
using sample_server_test::MakeValue;
using sample_server_test::TagOf;
using Json = nlohmann::json;

gtest_fork_env::ForkServerEnv* const server =
    sample_server_test::AddSampleServer("kv", [] { return sample_server::Config(); });

constexpr int kWriters = 6;

// Runs `body(thread_index)` on `count` threads and joins them.
template <typename Body>
void RunThreads(int count, Body body) {
  std::vector<std::thread> threads;
  for (int t = 0; t < count; ++t) threads.emplace_back(body, t);
  for (std::thread& thread : threads) thread.join();
}

TEST(SampleServerConcurrency, EveryAcknowledgedWriteToItsOwnKeyIsStored) {
  constexpr int kWritesPerThread = 150;
  std::atomic<int> acknowledged{0};
  std::atomic<int> failed{0};
  RunThreads(kWriters, [&](int t) {
    auto client = MakeClient(*server);
    for (int i = 0; i < kWritesPerThread; ++i) {
      const std::string key = "own." + std::to_string(t) + "." + std::to_string(i);
      auto res = client->Put("/v1/kv/" + key, MakeValue(key, 100 + 37 * i), "text/plain");
      if (res && res->status == 201) {
        ++acknowledged;
      } else {
        ++failed;
      }
    }
  });
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(acknowledged, kWriters * kWritesPerThread);

  auto client = MakeClient(*server);
  auto listed = client->Get("/v1/kv?prefix=own.&limit=10000");
  ASSERT_TRUE(listed) << listed.error();
  const auto keys = Json::parse(listed->body).get<std::vector<std::string>>();
  EXPECT_EQ(static_cast<int>(keys.size()), acknowledged.load());
  for (const std::string& key : keys) {
    auto got = client->Get("/v1/kv/" + key);
    ASSERT_TRUE(got) << got.error();
    ASSERT_EQ(got->status, 200) << key;
    EXPECT_TRUE(IsIntactValue(got->body)) << key;
    EXPECT_EQ(TagOf(got->body), key);
  }
}

TEST(SampleServerConcurrency, ExactlyOneOfManyWritersCreatesAContendedKey) {
  constexpr int kRounds = 40;
  std::atomic<int> created{0};
  std::atomic<int> replaced{0};
  std::atomic<int> failed{0};
  RunThreads(kWriters, [&](int t) {
    auto client = MakeClient(*server);
    for (int round = 0; round < kRounds; ++round) {
      const std::string key = "contended." + std::to_string(round);
      auto res = client->Put("/v1/kv/" + key, MakeValue("w" + std::to_string(t), 64), "text/plain");
      if (res && res->status == 201) {
        ++created;
      } else if (res && res->status == 200) {
        ++replaced;
      } else {
        ++failed;
      }
    }
  });
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(created, kRounds) << "a key was created twice, or never";
  EXPECT_EQ(replaced, kRounds * (kWriters - 1));
}

// Writers PUT and DELETE a few shared keys with values of many sizes, while
// readers check every value they get. Per key, the PUTs answered 201 minus
// the DELETEs answered 204 must be 1 if the key is there at the end and 0 if
// not, and a final value must be the last one some writer put there (a
// writer's own later PUT or DELETE would have replaced an earlier one).
TEST(SampleServerConcurrency, SharedKeysStayConsistentUnderWritersDeletersAndReaders) {
  constexpr int kKeys = 6;
  constexpr int kReaders = 2;
  constexpr int kOpsPerWriter = 250;
  std::mutex mutex;
  std::map<std::string, int> created_minus_deleted;       // per key
  std::map<std::string, std::set<std::string>> last_put;  // per key: each writer's last PUT tag
  std::atomic<int> failed{0};
  std::atomic<int> torn{0};
  std::atomic<int> reads{0};
  std::atomic<bool> writing{true};

  std::thread readers([&] {
    RunThreads(kReaders, [&](int) {
      auto client = MakeClient(*server);
      for (int i = 0; writing || i < 10; ++i) {
        auto res = client->Get("/v1/kv/shared." + std::to_string(i % kKeys));
        if (!res || (res->status != 200 && res->status != 404)) {
          ++failed;
        } else if (res->status == 200) {
          ++reads;
          if (!IsIntactValue(res->body)) ++torn;
        }
      }
    });
  });
  RunThreads(kWriters, [&](int t) {
    auto client = MakeClient(*server);
    std::mt19937 random(1000 + t);
    std::map<std::string, std::string> mine;  // key -> tag of my last PUT, "" after my DELETE
    std::map<std::string, int> balance;
    for (int op = 0; op < kOpsPerWriter; ++op) {
      const std::string key = "shared." + std::to_string(random() % kKeys);
      if (random() % 5 == 0) {
        auto res = client->Delete("/v1/kv/" + key);
        if (!res || (res->status != 204 && res->status != 404)) {
          ++failed;
        } else {
          if (res->status == 204) --balance[key];
          mine[key] = "";
        }
      } else {
        const std::string tag = "w" + std::to_string(t) + "." + std::to_string(op);
        auto res = client->Put("/v1/kv/" + key, MakeValue(tag, 1 + random() % 20000), "text/plain");
        if (!res || (res->status != 201 && res->status != 200)) {
          ++failed;
        } else {
          if (res->status == 201) ++balance[key];
          mine[key] = tag;
        }
      }
    }
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& [key, count] : balance) created_minus_deleted[key] += count;
    for (const auto& [key, tag] : mine) {
      if (!tag.empty()) last_put[key].insert(tag);
    }
  });
  writing = false;
  readers.join();

  EXPECT_EQ(failed, 0);
  EXPECT_EQ(torn, 0) << "of " << reads << " values read";
  EXPECT_GT(reads, 0);
  auto client = MakeClient(*server);
  for (int k = 0; k < kKeys; ++k) {
    const std::string key = "shared." + std::to_string(k);
    auto res = client->Get("/v1/kv/" + key);
    ASSERT_TRUE(res) << res.error();
    if (res->status == 200) {
      EXPECT_EQ(created_minus_deleted[key], 1) << key;
      ASSERT_TRUE(IsIntactValue(res->body)) << key;
      EXPECT_EQ(last_put[key].count(TagOf(res->body)), 1u)
          << key << " holds " << TagOf(res->body) << ", not the last PUT of any writer";
    } else {
      EXPECT_EQ(res->status, 404) << key;
      EXPECT_EQ(created_minus_deleted[key], 0) << key;
    }
  }
}

}  // namespace
