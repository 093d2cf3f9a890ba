#include "data_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <utility>

#include "key.h"

namespace sample_server {
namespace {

constexpr std::string_view kMagic = "SKVLOG1\n";
constexpr size_t kHeaderBytes = 13;  // crc, type, key size, value size
// A sanity bound for replay: a damaged size field must not make us allocate
// gigabytes. Far above any max_value_bytes a server is started with.
constexpr uint32_t kMaxReplayValueBytes = uint32_t{1} << 30;

std::error_code LastError() { return {errno, std::system_category()}; }

// flock(LOCK_EX | LOCK_NB), tried again for a moment while the file is held.
// A lock can outlive its holder's close() or exit: a process that reads
// /proc/<pid>/fd of the holder at that moment keeps a reference to the file,
// and the lock goes only when that reference does. A restart would then see
// its own predecessor's lock; a file truly in use still fails, 0.5 s later.
int LockExclusive(int fd) {
  constexpr int kTries = 500;
  for (int tries = 1;; ++tries) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return 0;
    if ((errno != EWOULDBLOCK && errno != EINTR) || tries == kTries) return -1;
    const timespec pause{0, 1000 * 1000};
    nanosleep(&pause, nullptr);
  }
}

constexpr std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kCrcTable = MakeCrcTable();

// CRC-32 (IEEE, as in zlib and gzip).
uint32_t Crc32(std::string_view data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : data) crc = kCrcTable[(crc ^ byte) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

void PutU32(char* out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xFFu);
}

uint32_t GetU32(const char* in) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= uint32_t{static_cast<unsigned char>(in[i])} << (8 * i);
  return value;
}

std::string EncodeRecord(DataLog::RecordType type, std::string_view key, std::string_view value) {
  std::string record(kHeaderBytes, '\0');
  record[4] = static_cast<char>(type);
  PutU32(&record[5], static_cast<uint32_t>(key.size()));
  PutU32(&record[9], static_cast<uint32_t>(value.size()));
  record.append(key);
  record.append(value);
  PutU32(&record[0], Crc32(std::string_view(record).substr(4)));
  return record;
}

std::error_code ReadAllAt(int fd, char* data, size_t size, uint64_t offset) {
  while (size > 0) {
    ssize_t got = pread(fd, data, size, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return LastError();
    if (got == 0) return std::make_error_code(std::errc::io_error);  // the file shrank under us
    data += got;
    size -= static_cast<size_t>(got);
    offset += static_cast<uint64_t>(got);
  }
  return {};
}

std::error_code WriteAllAt(int fd, std::string_view data, uint64_t offset) {
  while (!data.empty()) {
    ssize_t put = pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) return LastError();
    data.remove_prefix(static_cast<size_t>(put));
    offset += static_cast<uint64_t>(put);
  }
  return {};
}

// A new file is durable only once its directory entry is.
void SyncParentDirectory(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  fsync(fd);
  close(fd);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Reads records from `offset` to `size` and applies the intact ones. Returns
// the end of the last intact record; `damage` says why reading stopped early.
uint64_t ReplayRecords(int fd, uint64_t offset, uint64_t size, const DataLog::Apply& apply,
                       DataLog::Replay* replay, std::string* damage, std::string* error) {
  while (offset < size) {
    const uint64_t left = size - offset;
    if (left < kHeaderBytes) {
      *damage = "a record header cut short (" + std::to_string(left) + " bytes)";
      return offset;
    }
    char header[kHeaderBytes];
    if (auto e = ReadAllAt(fd, header, sizeof header, offset)) {
      *error = "read failed: " + e.message();
      return offset;
    }
    const auto type = static_cast<DataLog::RecordType>(header[4]);
    const uint32_t key_size = GetU32(header + 5);
    const uint32_t value_size = GetU32(header + 9);
    if ((type != DataLog::RecordType::kPut && type != DataLog::RecordType::kDelete) ||
        key_size == 0 || key_size > kMaxKeyBytes || value_size > kMaxReplayValueBytes ||
        (type == DataLog::RecordType::kDelete && value_size != 0)) {
      *damage = "an invalid record header";
      return offset;
    }
    const uint64_t record_size = kHeaderBytes + uint64_t{key_size} + value_size;
    if (record_size > left) {
      *damage = "a record cut short (" + std::to_string(left) + " of " +
                std::to_string(record_size) + " bytes)";
      return offset;
    }
    std::string record(header, kHeaderBytes);
    record.resize(record_size);
    if (auto e = ReadAllAt(fd, &record[kHeaderBytes], record_size - kHeaderBytes,
                           offset + kHeaderBytes)) {
      *error = "read failed: " + e.message();
      return offset;
    }
    std::string_view key = std::string_view(record).substr(kHeaderBytes, key_size);
    if (Crc32(std::string_view(record).substr(4)) != GetU32(header) || !IsStoredKey(key)) {
      *damage = "a record whose checksum does not match";
      return offset;
    }
    apply(type, std::string(key), record.substr(kHeaderBytes + key_size));
    ++replay->records;
    offset += record_size;
  }
  return offset;
}

}  // namespace

std::unique_ptr<DataLog> DataLog::Open(const std::string& path, bool fsync, const Apply& apply,
                                       Replay* replay, std::string* error) {
  *replay = Replay{};
  auto fail = [&](const std::string& what) {
    *error = "data file " + path + ": " + what;
    return nullptr;
  };
  Fd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (fd.get() < 0) return fail("cannot open: " + LastError().message());
  if (LockExclusive(fd.get()) != 0) {
    return fail(errno == EWOULDBLOCK ? "is in use by another process"
                                     : "cannot lock: " + LastError().message());
  }
  struct stat info;
  if (fstat(fd.get(), &info) != 0) return fail("cannot stat: " + LastError().message());
  const auto size = static_cast<uint64_t>(info.st_size);

  std::string damage;
  uint64_t end = 0;  // end of the intact data; 0 until the magic is there
  if (size > 0) {
    std::string magic(std::min<uint64_t>(size, kMagic.size()), '\0');
    if (auto e = ReadAllAt(fd.get(), magic.data(), magic.size(), 0)) {
      return fail("read failed: " + e.message());
    }
    if (kMagic.substr(0, magic.size()) != magic) {
      return fail(
          "is not a sample_server data file (it does not start with \"SKVLOG1\"); "
          "left untouched");
    }
    if (magic.size() < kMagic.size()) {
      damage = "a file header cut short";  // torn while the file was being created
    } else {
      std::string read_error;
      end = ReplayRecords(fd.get(), kMagic.size(), size, apply, replay, &damage, &read_error);
      if (!read_error.empty()) return fail(read_error);
    }
  }
  if (!damage.empty()) {
    replay->damage = damage;
    replay->cut_offset = end;
    replay->cut_bytes = size - end;
  }
  if (end == 0) {
    if (ftruncate(fd.get(), 0) != 0) return fail("cannot truncate: " + LastError().message());
    if (auto e = WriteAllAt(fd.get(), kMagic, 0)) return fail("cannot write: " + e.message());
    end = kMagic.size();
  } else if (end < size && ftruncate(fd.get(), static_cast<off_t>(end)) != 0) {
    return fail("cannot cut the damaged tail: " + LastError().message());
  }
  replay->kept_bytes = end;
  if (fsync) {
    if (fdatasync(fd.get()) != 0) return fail("cannot flush: " + LastError().message());
    if (size == 0) SyncParentDirectory(path);
  }
  return std::unique_ptr<DataLog>(new DataLog(fd.release(), fsync, end));
}

DataLog::~DataLog() {
  if (!broken_) fdatasync(fd_);
  close(fd_);
}

std::error_code DataLog::Append(RecordType type, std::string_view key, std::string_view value) {
  if (broken_) return broken_;
  const std::string record = EncodeRecord(type, key, value);
  if (auto error = WriteAllAt(fd_, record, end_)) {
    // Leave no partial record in front of the next one.
    if (ftruncate(fd_, static_cast<off_t>(end_)) != 0) broken_ = error;
    return error;
  }
  if (fsync_ && fdatasync(fd_) != 0) {
    // The record may or may not reach the disk; later writes must not be
    // acknowledged on top of a file in an unknown state.
    broken_ = LastError();
    return broken_;
  }
  end_ += record.size();
  return {};
}

}  // namespace sample_server
