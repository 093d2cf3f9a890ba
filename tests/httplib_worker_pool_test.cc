// OnDemandWorkerPool on its own: httplib::ThreadPool's contract (every job
// runs, at most max_workers at once, shutdown runs what is queued), with
// workers made only when a job finds none idle.

#include "gtest_fork_env/httplib_worker_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "support/subprocess.h"

namespace {

using gtest_fork_env::OnDemandWorkerPool;
using std::chrono::seconds;

// Whether the thread count comes down to `count` within 5 s: a joined
// thread stays listed in /proc for a moment after pthread_join returns.
bool ThreadCountReturnsTo(int count) {
  for (int i = 0; i < 5000; ++i) {
    if (test_support::ThreadsOf(getpid()) == count) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

// Jobs that hold their worker until released; counts how many ran at once.
struct Gate {
  std::mutex mutex;
  std::condition_variable changed;
  int running = 0, peak = 0, done = 0;
  bool open = false;

  std::function<void()> Job() {
    return [this] {
      std::unique_lock<std::mutex> lock(mutex);
      peak = std::max(peak, ++running);
      changed.notify_all();
      changed.wait_for(lock, seconds(10), [this] { return open; });
      --running;
      ++done;
      changed.notify_all();
    };
  }
  bool WaitForRunning(int count) {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, seconds(10), [&] { return running == count; });
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mutex);
    open = true;
    changed.notify_all();
  }
};

// httplib's pool would have made all 64 at once. A job's worker counts as
// idle once it waits again, a moment after the job itself is done (under
// load, long after): each job is enqueued once that worker waits, and must
// get it, not a worker of its own.
TEST(OnDemandWorkerPool, OneJobAtATimeReusesItsWorker) {
  const int before = test_support::ThreadsOf(getpid());
  OnDemandWorkerPool pool(64);
  EXPECT_EQ(test_support::ThreadsOf(getpid()), before) << "a worker was made before any job";
  Gate gate;
  gate.Open();
  constexpr int kJobs = 20;
  for (int i = 1; i <= kJobs; ++i) {
    pool.enqueue(gate.Job());
    {
      std::unique_lock<std::mutex> lock(gate.mutex);
      ASSERT_TRUE(gate.changed.wait_for(lock, seconds(10), [&] { return gate.done == i; }));
    }
    ASSERT_TRUE(test_support::WaitUntil([&] { return pool.idle_workers() == 1; },
                                        std::chrono::milliseconds(10000)))
        << "after job " << i << ": " << pool.idle_workers() << " idle workers";
  }
  EXPECT_EQ(test_support::ThreadsOf(getpid()) - before, 1)
      << "one job at a time, each after the worker was idle again, made more than one worker";
  pool.shutdown();
  EXPECT_TRUE(ThreadCountReturnsTo(before)) << "shutdown left workers behind";
}

TEST(OnDemandWorkerPool, BusyWorkersGetCompanyUpToTheMaximum) {
  OnDemandWorkerPool pool(3);
  Gate gate;
  for (int i = 0; i < 5; ++i) pool.enqueue(gate.Job());
  ASSERT_TRUE(gate.WaitForRunning(3)) << "three busy jobs did not get three workers";
  gate.Open();
  pool.shutdown();
  EXPECT_EQ(gate.done, 5);
  EXPECT_EQ(gate.peak, 3) << "more jobs ran at once than the pool's maximum";
}

TEST(OnDemandWorkerPool, ShutdownRunsTheJobsStillQueued) {
  OnDemandWorkerPool pool(1);
  Gate gate;
  for (int i = 0; i < 4; ++i) pool.enqueue(gate.Job());
  ASSERT_TRUE(gate.WaitForRunning(1));
  gate.Open();
  pool.shutdown();
  EXPECT_EQ(gate.done, 4);
  EXPECT_EQ(gate.peak, 1);
  pool.shutdown();  // idempotent, as the destructor calls it again
}

}  // namespace
