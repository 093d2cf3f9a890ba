#pragma once

// The task queue ServeHttplib gives a clone (Scope::kTest, kTestSuite): the
// same contract as httplib::ThreadPool, whose workers it replaces, except
// that it makes a worker only when a connection finds none idle. A clone
// serves one test, often one connection at a time; httplib's pool would make
// all of its CPPHTTPLIB_THREAD_POOL_COUNT (8 or more) threads at once in
// every clone, and a thread is the dearest thing a fresh copy-on-write
// process makes (bench/clone_bench.cc). At most `max_workers` run, as in
// httplib's pool; a connection that finds all of them busy waits in the queue.

#include <httplib.h>

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <list>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace gtest_fork_env {

class OnDemandWorkerPool : public httplib::TaskQueue {
 public:
  explicit OnDemandWorkerPool(size_t max_workers) : max_workers_(max_workers ? max_workers : 1) {}
  OnDemandWorkerPool(const OnDemandWorkerPool&) = delete;
  OnDemandWorkerPool& operator=(const OnDemandWorkerPool&) = delete;
  ~OnDemandWorkerPool() override { shutdown(); }

  // A job waits for an idle worker; a new worker starts when the jobs
  // waiting outnumber the idle workers and fewer than max_workers exist. A
  // worker that cannot be made (std::system_error) leaves its job queued for
  // the workers there are; with none at all the error propagates, as
  // httplib's pool would throw on construction.
  void enqueue(std::function<void()> job) override {
    std::unique_lock<std::mutex> lock(mutex_);
    jobs_.push_back(std::move(job));
    if (jobs_.size() > idle_ && workers_.size() < max_workers_) {
      try {
        workers_.emplace_back([this] { Work(); });
      } catch (const std::system_error&) {
        if (workers_.empty()) {
          jobs_.pop_back();
          throw;
        }
      }
    }
    lock.unlock();
    wake_.notify_one();
  }

  // Workers waiting for a job now. A worker whose job just returned counts
  // again only once it is back waiting: a job enqueued before that may get
  // a worker of its own (up to max_workers).
  size_t idle_workers() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return idle_;
  }

  // Runs the jobs already queued, then joins every worker. Idempotent.
  void shutdown() override {
    std::vector<std::thread> workers;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      shutting_down_ = true;
      workers.swap(workers_);
    }
    wake_.notify_all();
    for (std::thread& worker : workers) worker.join();
  }

 private:
  void Work() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ++idle_;
        wake_.wait(lock, [this] { return shutting_down_ || !jobs_.empty(); });
        --idle_;
        if (jobs_.empty()) return;  // shutting down, nothing left
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  const size_t max_workers_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::list<std::function<void()>> jobs_;
  std::vector<std::thread> workers_;
  size_t idle_ = 0;
  bool shutting_down_ = false;
};

}  // namespace gtest_fork_env
