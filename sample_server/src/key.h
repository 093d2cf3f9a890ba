#pragma once

#include <cstddef>
#include <string_view>

namespace sample_server {

// Keys are 1 to 256 bytes of [A-Za-z0-9._~-], the characters a URL path
// carries unescaped, so a key is the same string in the URL, the store, the
// listing and the data file.
inline constexpr size_t kMaxKeyBytes = 256;

inline bool IsKeyCharacter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '~' || c == '-';
}

// Whether `text` is made of key characters only and is at most kMaxKeyBytes
// long (a listing prefix may be empty).
inline bool IsKeyText(std::string_view text) {
  if (text.size() > kMaxKeyBytes) return false;
  for (char c : text) {
    if (!IsKeyCharacter(c)) return false;
  }
  return true;
}

// "." and ".." are dot segments: curl, browsers and most HTTP libraries
// remove them from a path before sending (RFC 3986, section 5.2.4), so a key
// named so could be stored but never addressed again by such a client.
inline bool IsDotSegment(std::string_view key) { return key == "." || key == ".."; }

// Whether a request may name `key`: 1 to kMaxKeyBytes key characters, and not
// a dot segment.
inline bool IsValidKey(std::string_view key) {
  return !key.empty() && IsKeyText(key) && !IsDotSegment(key);
}

// Whether a data file record may hold `key`. Looser than IsValidKey: a file
// written before dot segments were refused may hold "." or "..", and that
// is not damage, so the record is replayed rather than cut off.
inline bool IsStoredKey(std::string_view key) { return !key.empty() && IsKeyText(key); }

}  // namespace sample_server
