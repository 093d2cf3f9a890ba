#include "store.h"

#include <mutex>

namespace sample_server {

std::unique_ptr<Store> Store::Open(const std::string& data_file, bool fsync,
                                   DataLog::Replay* replay, std::string* error) {
  auto store = std::make_unique<Store>();
  auto apply = [&store](DataLog::RecordType type, std::string key, std::string value) {
    store->Apply(type, std::move(key), std::move(value));
  };
  store->log_ = DataLog::Open(data_file, fsync, apply, replay, error);
  if (!store->log_) return nullptr;
  return store;
}

void Store::Apply(DataLog::RecordType type, std::string key, std::string value) {
  if (type == DataLog::RecordType::kPut) {
    values_[std::move(key)] = std::make_shared<const std::string>(std::move(value));
  } else {
    values_.erase(key);
  }
}

std::error_code Store::Put(const std::string& key, std::string value, bool* created) {
  auto shared = std::make_shared<const std::string>(std::move(value));
  std::unique_lock<std::shared_mutex> lock(mutex_);
  if (log_) {
    if (auto error = log_->Append(DataLog::RecordType::kPut, key, *shared)) return error;
  }
  auto [it, inserted] = values_.try_emplace(key, shared);
  if (!inserted) it->second = std::move(shared);
  *created = inserted;
  return {};
}

std::error_code Store::Delete(const std::string& key, bool* existed) {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  auto it = values_.find(key);
  *existed = it != values_.end();
  if (!*existed) return {};
  if (log_) {
    if (auto error = log_->Append(DataLog::RecordType::kDelete, key, {})) return error;
  }
  values_.erase(it);
  return {};
}

std::shared_ptr<const std::string> Store::Get(const std::string& key) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  auto it = values_.find(key);
  return it == values_.end() ? nullptr : it->second;
}

std::vector<std::string> Store::List(const std::string& prefix, size_t limit) const {
  std::vector<std::string> keys;
  std::shared_lock<std::shared_mutex> lock(mutex_);
  for (auto it = values_.lower_bound(prefix); it != values_.end() && keys.size() < limit &&
                                              it->first.compare(0, prefix.size(), prefix) == 0;
       ++it) {
    keys.push_back(it->first);
  }
  return keys;
}

size_t Store::size() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return values_.size();
}

}  // namespace sample_server
