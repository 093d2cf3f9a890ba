#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace sample_server {

// The append-only file that makes a Store durable.
//
// Layout: the 8-byte magic "SKVLOG1\n", then records, each
//   u32 crc32 of the rest of the record | u8 type | u32 key size |
//   u32 value size | key bytes | value bytes
// with integers little-endian. A record is written with one pwrite at the end
// of the intact data, so a crash leaves at most one damaged record, the last.
//
// Not thread-safe: the Store serializes every call.
class DataLog {
 public:
  enum class RecordType : uint8_t { kPut = 1, kDelete = 2 };

  // What Open found in the file.
  struct Replay {
    uint64_t records = 0;     // intact records applied
    uint64_t kept_bytes = 0;  // file size after the cut
    uint64_t cut_bytes = 0;   // damaged tail removed; 0 when the file was whole
    uint64_t cut_offset = 0;  // where the damage started
    std::string damage;       // what was wrong there, for the log
  };
  using Apply = std::function<void(RecordType, std::string key, std::string value)>;

  // Opens or creates `path` and takes an exclusive lock on it (flock), so two
  // servers never share a file. Calls `apply` for every intact record in
  // order, then truncates the file after the last one: the first record that
  // is short, fails its checksum or is otherwise invalid ends the log, and
  // it and everything after it are cut off and described in `replay`.
  // Errors: nullptr with `*error` set when the file cannot be opened, locked,
  // read or truncated, or when it does not start with the magic (it is then
  // left untouched: it is not a sample_server file).
  static std::unique_ptr<DataLog> Open(const std::string& path, bool fsync, const Apply& apply,
                                       Replay* replay, std::string* error);
  // Flushes the file to disk (a clean stop is durable even without fsync).
  ~DataLog();
  DataLog(const DataLog&) = delete;
  DataLog& operator=(const DataLog&) = delete;

  // Appends one record: written to the kernel (and flushed to the disk with
  // fsync on) when this returns without error, so it survives the death of
  // this process.
  // Errors: the write or flush error. A failed write is truncated away; if
  // even that fails, or a flush failed, the log refuses every later append
  // (the file could no longer be trusted to match what was acknowledged).
  std::error_code Append(RecordType type, std::string_view key, std::string_view value);

 private:
  DataLog(int fd, bool fsync, uint64_t end) : fd_(fd), fsync_(fsync), end_(end) {}

  int fd_;
  bool fsync_;
  uint64_t end_;  // end of the intact records: where the next one goes
  std::error_code broken_;
};

}  // namespace sample_server
