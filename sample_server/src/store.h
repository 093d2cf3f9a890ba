#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <system_error>
#include <vector>

#include "data_log.h"

namespace sample_server {

// The key-value map, safe for any number of threads, with an optional
// DataLog behind it.
//
// Every PUT and DELETE appends to the log and updates the map under one
// exclusive lock, so the log holds the changes in the order readers saw
// them and a replay rebuilds exactly the acknowledged state. Reads share the
// lock and hand out immutable values, so a value is never seen half-written.
class Store {
 public:
  // A store in memory only.
  Store() = default;

  // Opens `data_file` and replays it into a new store.
  // Errors: nullptr with `*error` set (see DataLog::Open).
  static std::unique_ptr<Store> Open(const std::string& data_file, bool fsync,
                                     DataLog::Replay* replay, std::string* error);

  // Stores `value` under `key`; `*created` says whether the key was new.
  // Errors: the data log's error; the store is then unchanged.
  std::error_code Put(const std::string& key, std::string value, bool* created);
  // Removes `key`; `*existed` says whether it was there.
  // Errors: the data log's error; the store is then unchanged.
  std::error_code Delete(const std::string& key, bool* existed);
  // The value, or nullptr when there is none.
  std::shared_ptr<const std::string> Get(const std::string& key) const;
  // Up to `limit` keys starting with `prefix`, in byte order.
  std::vector<std::string> List(const std::string& prefix, size_t limit) const;
  size_t size() const;

 private:
  // Applies a change without logging it (replay).
  void Apply(DataLog::RecordType type, std::string key, std::string value);

  mutable std::shared_mutex mutex_;
  std::map<std::string, std::shared_ptr<const std::string>> values_;
  std::unique_ptr<DataLog> log_;  // null: memory only
};

}  // namespace sample_server
