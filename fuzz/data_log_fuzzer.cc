// libFuzzer target: replaying a data file (DataLog::Open), from raw bytes.
//
// Each input is written as the data file, in a directory of this process,
// and opened the way the server opens it at start. The contract checked,
// against a reference parser written here from the format in data_log.h
// (with zlib's CRC-32, not the one in data_log.cc):
//   - a file that does not start with the magic (or a prefix of it) is
//     refused and left byte for byte as it was;
//   - otherwise the records replayed are exactly the longest run of valid
//     records after the magic: each one has a matching checksum, a valid key,
//     a known type, no value on a DELETE; replay.records counts them;
//   - the file after the cut is the input up to the end of that run (a torn
//     magic becomes the magic), and the replay reports the cut bytes and
//     offset, with a reason whenever something was cut;
//   - replaying the cut file again gives the same records with nothing cut;
//   - a record appended after the cut replays after them.
// A violation prints what was wrong and aborts, so libFuzzer keeps the input.

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "data_log.h"
#include "key.h"

namespace {

using sample_server::DataLog;

constexpr std::string_view kMagic = "SKVLOG1\n";
constexpr size_t kHeaderBytes = 13;
constexpr uint32_t kMaxReplayValueBytes = uint32_t{1} << 30;

struct Record {
  DataLog::RecordType type;
  std::string key;
  std::string value;
  bool operator==(const Record& other) const {
    return type == other.type && key == other.key && value == other.value;
  }
};

std::string g_directory;
std::string g_path;

void RemoveFile() {
  unlink(g_path.c_str());
  rmdir(g_directory.c_str());
}

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "\ndata_log_fuzzer: CONTRACT VIOLATED: %s\n", what.c_str());
  std::abort();
}

uint32_t GetU32(std::string_view bytes) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= uint32_t{static_cast<unsigned char>(bytes[i])} << (8 * i);
  return value;
}

uint32_t Crc32(std::string_view bytes) {
  return static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

// The reference: the valid records after the magic, and where they end.
std::vector<Record> Parse(std::string_view file, size_t* end) {
  std::vector<Record> records;
  size_t offset = kMagic.size();
  for (;;) {
    *end = offset;
    if (file.size() - offset < kHeaderBytes) return records;
    std::string_view header = file.substr(offset, kHeaderBytes);
    const auto type = static_cast<unsigned char>(header[4]);
    const uint64_t key_size = GetU32(header.substr(5));
    const uint64_t value_size = GetU32(header.substr(9));
    if ((type != 1 && type != 2) || value_size > kMaxReplayValueBytes ||
        (type == 2 && value_size != 0) ||
        kHeaderBytes + key_size + value_size > file.size() - offset) {
      return records;
    }
    std::string_view record = file.substr(offset, kHeaderBytes + key_size + value_size);
    std::string_view key = record.substr(kHeaderBytes, key_size);
    if (Crc32(record.substr(4)) != GetU32(record) || !sample_server::IsValidKey(key)) {
      return records;
    }
    records.push_back({static_cast<DataLog::RecordType>(type), std::string(key),
                       std::string(record.substr(kHeaderBytes + key_size))});
    offset += record.size();
  }
}

void WriteFile(std::string_view bytes) {
  const int fd = open(g_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
    std::perror("data_log_fuzzer: write");
    std::abort();
  }
  close(fd);
}

std::string ReadFile() {
  std::string bytes;
  const int fd = open(g_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return bytes;
  char buffer[65536];
  ssize_t got;
  while ((got = read(fd, buffer, sizeof buffer)) > 0)
    bytes.append(buffer, static_cast<size_t>(got));
  close(fd);
  return bytes;
}

std::unique_ptr<DataLog> Open(std::vector<Record>* records, DataLog::Replay* replay,
                              std::string* error) {
  records->clear();
  return DataLog::Open(
      g_path, /*fsync=*/false,
      [records](DataLog::RecordType type, std::string key, std::string value) {
        records->push_back({type, std::move(key), std::move(value)});
      },
      replay, error);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/data_log_fuzzer.XXXXXX";
  if (!mkdtemp(pattern.data())) {
    std::perror("data_log_fuzzer: mkdtemp");
    std::abort();
  }
  g_directory = pattern;
  g_path = g_directory + "/kv.log";
  std::atexit(RemoveFile);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  WriteFile(input);

  std::vector<Record> records;
  DataLog::Replay replay;
  std::string error;
  auto log = Open(&records, &replay, &error);

  const size_t magic_part = std::min(input.size(), kMagic.size());
  if (input.substr(0, magic_part) != kMagic.substr(0, magic_part)) {
    if (log || error.empty()) Fail("a foreign file was accepted");
    if (!records.empty()) Fail("a foreign file was replayed");
    if (ReadFile() != input) Fail("a foreign file was changed");
    return 0;
  }
  if (!log) Fail("a sample_server file was refused: " + error);

  size_t end = kMagic.size();
  const std::vector<Record> expected =
      input.size() < kMagic.size() ? std::vector<Record>() : Parse(input, &end);
  if (records != expected) {
    Fail("replayed " + std::to_string(records.size()) + " records; the reference finds " +
         std::to_string(expected.size()));
  }
  if (replay.records != records.size()) Fail("replay.records is not the number replayed");
  const std::string file = ReadFile();
  if (input.size() < kMagic.size()) {
    if (file != kMagic) Fail("a torn or empty file did not become the magic");
  } else if (file != input.substr(0, end)) {
    Fail("the file after the cut is not the input up to the last valid record (kept " +
         std::to_string(file.size()) + " bytes, expected " + std::to_string(end) + ")");
  }
  if (replay.kept_bytes != file.size()) Fail("replay.kept_bytes is not the file size");
  const size_t cut = input.size() < kMagic.size() ? input.size() : input.size() - end;
  if (replay.cut_bytes != cut) Fail("replay.cut_bytes is wrong");
  if ((cut != 0) == replay.damage.empty()) Fail("a cut without a reason, or a reason without one");
  if (cut != 0 && replay.cut_offset != (input.size() < kMagic.size() ? 0 : end)) {
    Fail("replay.cut_offset is wrong");
  }

  // What is left is whole: a second replay finds the same, and cuts nothing.
  log.reset();
  std::vector<Record> again;
  log = Open(&again, &replay, &error);
  if (!log) Fail("the cut file was refused: " + error);
  if (again != records) Fail("a second replay found other records");
  if (replay.cut_bytes != 0 || !replay.damage.empty()) Fail("a second replay cut something");
  if (ReadFile() != file) Fail("a second replay changed the file");

  // New records go after the cut.
  const Record appended{DataLog::RecordType::kPut, "appended.key",
                        std::string(input.substr(0, 40))};
  if (auto e = log->Append(appended.type, appended.key, appended.value)) {
    Fail("append failed: " + e.message());
  }
  log.reset();
  log = Open(&again, &replay, &error);
  if (!log) Fail("the file was refused after an append: " + error);
  records.push_back(appended);
  if (again != records || replay.cut_bytes != 0) Fail("an appended record does not replay");
  return 0;
}
